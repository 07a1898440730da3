// The WAN benchmark's plots (run.js): vega-lite specs built from the results (pure, tested by
// test/bench/wan-report.test.ts), compiled to vega and rendered to SVG in Node.

/**
 * Local write latency per region, SMAC beside etcd (whose role in the region is in the label):
 * a bar to p99 with a tick at p50 and one at max, log scale; one panel per concurrency.
 */
export function latencySpec(cells) {
  const values = cells.map((c) => ({
    system: c.system === 'etcd' ? `etcd (${c.role})` : 'smac',
    sys: c.system,
    region: c.region,
    concurrency: `c=${c.concurrency}`,
    p50: Math.max(c.p50 ?? 0, 0.01),
    p99: Math.max(c.p99 ?? 0, 0.01),
    max: Math.max(c.max ?? 0, 0.01),
  }));
  const x = { field: 'region', type: 'nominal', title: null };
  const y = { type: 'quantitative', scale: { type: 'log', domainMin: 0.1 }, title: 'ms (log scale)' };
  const color = { field: 'system', type: 'nominal', title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Local write latency, all regions loaded at once: bar to p99, ticks at p50 (black) and max (grey)',
    data: { values },
    facet: { column: { field: 'concurrency', type: 'nominal', title: null } },
    spec: {
      width: 240,
      height: 240,
      encoding: { x, xOffset: { field: 'sys' } },
      layer: [
        {
          mark: { type: 'bar', opacity: 0.8 },
          encoding: { y: { ...y, field: 'p99' }, y2: { datum: 0.1 }, color },
        },
        { mark: { type: 'tick', color: 'black', thickness: 2 }, encoding: { y: { ...y, field: 'p50' } } },
        { mark: { type: 'tick', color: 'grey', thickness: 2 }, encoding: { y: { ...y, field: 'max' } } },
      ],
    },
  };
}

/** Visibility as a multiple of the pair's one-way delay, p50 and p99, per ordered pair. */
export function visibilitySpec(rows) {
  const values = rows.flatMap((r) =>
    [
      ['p50', r.ratioP50],
      ['p99', r.ratioP99],
    ]
      .filter(([, v]) => v !== undefined)
      .map(([stat, ratio]) => ({ system: r.system, pair: `${r.from}→${r.to}`, stat, ratio })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Cross-region visibility (× the one-way delay; 1 is the floor)',
    data: { values },
    facet: { column: { field: 'stat', type: 'nominal', title: null } },
    spec: {
      width: 280,
      height: 220,
      layer: [
        {
          mark: { type: 'bar' },
          encoding: {
            x: { field: 'pair', type: 'nominal', title: null, axis: { labelAngle: -30 } },
            xOffset: { field: 'system' },
            y: { field: 'ratio', type: 'quantitative', title: '× one-way delay' },
            color: { field: 'system', type: 'nominal' },
          },
        },
        { mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { y: { datum: 1 } } },
      ],
    },
  };
}

/** Writes acknowledged during the partition, per region and side, SMAC beside etcd. */
export function partitionSpec(rows) {
  const values = rows.flatMap((r) => [
    {
      system: r.system,
      where: `${r.region} (${r.side})`,
      outcome: 'acked in the cut',
      count: r.ackedDuringCut,
    },
    {
      system: r.system,
      where: `${r.region} (${r.side})`,
      outcome: 'acked after the heal',
      count: r.ackedAfterHeal,
    },
    { system: r.system, where: `${r.region} (${r.side})`, outcome: 'failed', count: r.failed },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Writes during the partition',
    data: { values },
    facet: { column: { field: 'system', type: 'nominal', title: null } },
    spec: {
      width: 220,
      height: 200,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'where', type: 'nominal', title: null, axis: { labelAngle: -30 } },
        y: { field: 'count', type: 'quantitative', title: 'writes', stack: true },
        color: {
          field: 'outcome',
          type: 'nominal',
          sort: ['acked in the cut', 'acked after the heal', 'failed'],
        },
      },
    },
  };
}

/** Every plot the results allow: name -> vega-lite spec. */
export function plotSpecs(result) {
  const out = {};
  if (result.latency?.cells.length) out['wan-latency'] = latencySpec(result.latency.cells);
  if (result.visibility?.rows.length) out['wan-visibility'] = visibilitySpec(result.visibility.rows);
  if (result.partition?.rows.length) out['wan-partition'] = partitionSpec(result.partition.rows);
  return out;
}

/** A vega-lite spec compiled and rendered to an SVG string (headless: no canvas needed). */
export async function renderSvg(vlSpec) {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const view = new vega.View(vega.parse(compile(vlSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
