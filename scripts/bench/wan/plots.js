// The WAN benchmark's plots (run.js): vega-lite specs built from the results (pure, tested by
// test/bench/wan-report.test.ts), compiled to vega and rendered to SVG in Node.

/** Local write latency: p50 and p99 per region and role, SMAC beside etcd, one panel per c. */
export function latencySpec(cells) {
  const values = cells.flatMap((c) =>
    ['p50', 'p99'].map((stat) => ({
      system: c.system,
      where: `${c.region} (${c.role})`,
      concurrency: `c=${c.concurrency}`,
      stat,
      ms: Math.max(c[stat] ?? 0, 0.01),
    })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Local write latency, all regions loaded at once (ms, log scale)',
    data: { values },
    facet: { column: { field: 'concurrency', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 220,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'where', type: 'nominal', title: null, axis: { labelAngle: -30 } },
        xOffset: { field: 'system' },
        y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
        color: { field: 'system', type: 'nominal' },
        opacity: { field: 'stat', type: 'ordinal', sort: ['p50', 'p99'], scale: { range: [1, 0.45] } },
        tooltip: [{ field: 'stat' }, { field: 'ms' }],
      },
    },
    resolve: { scale: { x: 'independent' } },
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
        color: { field: 'outcome', type: 'nominal' },
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
