// The WAN benchmark's pure part (run.js; tested by test/bench/wan-report.test.ts): statistics
// over samples, visibility as a ratio to the one-way delay, and the markdown report.

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const round = (x, digits = 2) => (x === undefined ? undefined : Math.round(x * 10 ** digits) / 10 ** digits);

/** n, p50, p99 and max of unsorted samples (ms), rounded to 10 µs; undefined ones are skipped. */
export function stats(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1)),
  };
}

/**
 * Visibility samples `{system, from, to, oneWayMs, ms}` (ms undefined when never seen) grouped
 * by system and ordered pair: percentiles in ms and as multiples of the pair's one-way delay.
 */
export function visibilityRows(samples) {
  const groups = new Map();
  for (const s of samples) {
    const k = `${s.system} ${s.from} ${s.to}`;
    if (!groups.has(k))
      groups.set(k, { system: s.system, from: s.from, to: s.to, oneWayMs: s.oneWayMs, ms: [] });
    groups.get(k).ms.push(s.ms);
  }
  return [...groups.values()].map((g) => {
    const st = stats(g.ms);
    return {
      system: g.system,
      from: g.from,
      to: g.to,
      oneWayMs: g.oneWayMs,
      ...st,
      missed: g.ms.length - st.n,
      ratioP50: st.p50 === undefined ? undefined : round(st.p50 / g.oneWayMs),
      ratioP99: st.p99 === undefined ? undefined : round(st.p99 / g.oneWayMs),
    };
  });
}

/**
 * Bytes each region sent and received on the WAN links, per system, from the delay proxies'
 * counters (`ports`: system -> the ports its traffic uses). Proxy `a>b` carries the connections
 * region a opened to b: its forward bytes were sent by a, the rest by b.
 */
export function linkBytes(proxyStats, regions, ports) {
  const out = {};
  for (const [system, list] of Object.entries(ports)) {
    const sum = (rec) => list.reduce((s, port) => s + (rec?.[port] ?? 0), 0);
    out[system] = regions.map((r) => {
      let sent = 0;
      let received = 0;
      for (const p of proxyStats) {
        const [from, to] = p.name.split('>');
        const fwd = sum(p.forwardBytesByPort);
        const back = sum(p.bytesByPort) - fwd;
        if (from === r) {
          sent += fwd;
          received += back;
        } else if (to === r) {
          sent += back;
          received += fwd;
        }
      }
      return { sent, received };
    });
  }
  return out;
}

/** The lowest and highest of some numbers, as "a–b" (or "a" when equal, "—" when none). */
export function span(values, digits = 1) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return '—';
  const lo = round(Math.min(...v), digits);
  const hi = round(Math.max(...v), digits);
  return lo === hi ? `${lo}` : `${lo}–${hi}`;
}

const pairOf = (r) => `${r.from} → ${r.to}`;

function table(header, rows) {
  const fmt = (x) => (x === undefined || x === null ? '—' : String(x));
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n');
}

/**
 * A table of `rows` with one column per entry of `columns`: header -> the row's field of that
 * name, or a function of the row.
 */
function tableOf(rows, columns) {
  const cols = Object.entries(columns);
  return table(
    cols.map(([h]) => h),
    rows.map((r) => cols.map(([, f]) => (typeof f === 'function' ? f(r) : r[f]))),
  );
}

/** The headline comparison: one line per measure, SMAC against etcd. */
export function summaryRows(result) {
  const out = [];
  const lat = result.latency?.cells ?? [];
  for (const c of [...new Set(lat.map((x) => x.concurrency))]) {
    const smac = lat.filter((x) => x.system === 'smac' && x.concurrency === c);
    const etcd = lat.filter((x) => x.system === 'etcd' && x.concurrency === c);
    const byRole = (role) => etcd.filter((x) => x.role === role);
    const e = (f) => `leader ${span(byRole('leader').map(f))}, followers ${span(byRole('follower').map(f))}`;
    out.push([
      `local write c=${c}, p50 / p99 / max ms`,
      `${span(smac.map((x) => x.p50))} / ${span(smac.map((x) => x.p99))} / ${span(smac.map((x) => x.max))}`,
      `p50 ${e((x) => x.p50)}; p99 ${e((x) => x.p99)}`,
    ]);
    out.push([
      `writes/s per region, c=${c}`,
      span(
        smac.map((x) => x.writesPerSec),
        0,
      ),
      e((x) => x.writesPerSec),
    ]);
  }
  const vis = result.visibility?.rows ?? [];
  if (vis.length > 0) {
    const v = (s, f) => span(vis.filter((x) => x.system === s).map(f), 2);
    out.push([
      'visibility p50 / p99, × one-way delay',
      `${v('smac', (x) => x.ratioP50)} / ${v('smac', (x) => x.ratioP99)}`,
      `${v('etcd', (x) => x.ratioP50)} / ${v('etcd', (x) => x.ratioP99)}`,
    ]);
  }
  const bursts = result.burst?.rows ?? [];
  if (bursts.length > 0) {
    const cell = (s) => {
      const b = bursts.find((x) => x.system === s);
      return b === undefined ? '—' : `${b.allVisibleMs ?? 'never'} ms (${b.writesPerSec} writes/s)`;
    };
    out.push([
      `${bursts[0].writes}-write burst ${bursts[0].from}→${bursts[0].to}: all visible after`,
      cell('smac'),
      cell('etcd'),
    ]);
  }
  const part = result.partition?.rows ?? [];
  if (part.length > 0) {
    const p = (s) => {
      const min = part.filter((x) => x.system === s && x.side === 'minority');
      const acked = min.reduce((a, x) => a + x.ackedDuringCut, 0);
      const tried = min.reduce((a, x) => a + x.attempted, 0);
      const r = part.find((x) => x.system === s);
      return [
        `${acked} of ${tried}`,
        r?.identicalAfterHealMs === undefined ? 'not within 180 s' : `${r.identicalAfterHealMs} ms`,
        `${r?.lost ?? '—'}`,
      ];
    };
    const [s, e] = [p('smac'), p('etcd')];
    out.push([`${result.partition.seconds} s partition: minority writes acked during the cut`, s[0], e[0]]);
    out.push(['identical after the heal', s[1], e[1]]);
    out.push(['acknowledged writes lost', s[2], e[2]]);
  }
  const det = result.detection;
  if (det) {
    const dead = Object.values(det.detection).map((x) => x.deadMs);
    out.push([
      `SIGKILL → dead at every other region, ms`,
      dead.some((x) => x === undefined) ? `${span(dead, 0)} (some never)` : span(dead, 0),
      '—',
    ]);
    out.push([
      `false suspicions in the ${det.soakSeconds} s soak under load`,
      `${det.suspicions.length}`,
      '—',
    ]);
  }
  const idle = result.idle?.rows ?? [];
  if (idle.length > 0) {
    const i = (s, f, d = 0) => span(idle.filter((x) => x.system === s).map(f), d);
    const w = (s) => {
      const rows = idle.filter((x) => x.system === s);
      return rows.some((x) => x.wanSentPerSec !== undefined)
        ? `${span(
            rows.map((x) => x.wanSentPerSec),
            0,
          )} / ${span(
            rows.map((x) => x.wanReceivedPerSec),
            0,
          )}`
        : `${span(
            rows.map((x) => x.wanBytesPerSec),
            0,
          )} (both ways)`;
    };
    out.push([
      'idle per agent / member: RSS MB / CPU % / WAN B/s sent / received',
      `${i('smac', (x) => x.rssMb)} / ${i('smac', (x) => x.cpuPct, 1)} / ${w('smac')}`,
      `${i('etcd', (x) => x.rssMb)} / ${i('etcd', (x) => x.cpuPct, 1)} / ${w('etcd')}`,
    ]);
  }
  return out;
}

/** The full markdown report of one run. */
export function markdownReport(result) {
  const m = result.meta;
  const parts = [
    `# WAN benchmark: SMAC and etcd in three emulated regions`,
    '',
    `Command: \`${m.command}\`. Run ${m.startedAt} to ${m.endedAt} (${m.durationS} s)${m.quick ? ', **--quick: for checking the script, not for quoting**' : ''}.`,
    `Machine: ${m.cpus} vCPUs shared by SMAC, etcd, the clients and the proxies; 1-minute load average ${m.loadAverage.start} at the start, ${m.loadAverage.max} at most, ${m.loadAverage.end} at the end${m.loadAverage.max > m.cpus ? ' (other work ran on the machine: treat tails as indicative)' : ''}. ${m.node}, etcd ${m.etcdVersion} (${m.etcdTuning.join(' ')}).`,
    ...(result.loadByPhase && Object.keys(result.loadByPhase).length > 0
      ? [
          '',
          `Load average at the start and end of each phase: ${Object.entries(result.loadByPhase)
            .map(([p, [a, b]]) => `${p} ${a} → ${b}`)
            .join(', ')}.`,
        ]
      : []),
    '',
    '## Summary',
    '',
    table(['', 'SMAC', 'etcd'], summaryRows(result)),
    '',
    '## Round trips measured through each proxy',
    '',
    table(
      ['link', 'configured ms', 'min', 'median', 'max'],
      (result.links ?? []).map((l) => [`${l.from} → ${l.to}`, l.configuredMs, l.minMs, l.medianMs, l.maxMs]),
    ),
  ];
  if (result.latency) {
    parts.push(
      '',
      `## Local write latency (all regions at once; ${result.latency.samples} samples per cell)`,
      '',
    );
    parts.push(
      tableOf(result.latency.cells, {
        system: 'system',
        c: 'concurrency',
        region: 'region',
        role: 'role',
        n: 'n',
        'p50 ms': 'p50',
        'p99 ms': 'p99',
        'max ms': 'max',
        'writes/s': 'writesPerSec',
        errors: 'errors',
      }),
    );
  }
  if (result.visibility) {
    parts.push(
      '',
      `## Cross-region visibility (${result.visibility.samples} writes per region and system)`,
      '',
    );
    parts.push(
      tableOf(result.visibility.rows, {
        system: 'system',
        'from → to': pairOf,
        'one-way ms': 'oneWayMs',
        n: 'n',
        'p50 ms': 'p50',
        'p99 ms': 'p99',
        'max ms': 'max',
        'p50 ×': 'ratioP50',
        'p99 ×': 'ratioP99',
        missed: 'missed',
      }),
    );
  }
  if (result.burst) {
    parts.push('', '## Burst', '');
    parts.push(
      tableOf(result.burst.rows, {
        system: 'system',
        'from → to': pairOf,
        acked: (b) => `${b.acked}/${b.writes}`,
        'acked in ms': 'ackedInMs',
        'writes/s': 'writesPerSec',
        'all visible after ms': 'allVisibleMs',
        'after last ack ms': 'afterLastAckMs',
      }),
    );
  }
  if (result.partition) {
    const p = result.partition;
    parts.push(
      '',
      `## Partition: ${p.cutRegion} cut for ${p.seconds} s (etcd leader before: ${p.etcdLeaderBefore ?? '?'}, after: ${p.etcdLeaderAfter ?? '?'})`,
      '',
    );
    parts.push(
      tableOf(p.rows, {
        system: 'system',
        region: 'region',
        side: 'side',
        attempted: 'attempted',
        'acked in the cut': 'ackedDuringCut',
        'acked after heal': 'ackedAfterHeal',
        failed: 'failed',
        'first failure after ms': 'failedAfterMs',
        'identical after heal ms': 'identicalAfterHealMs',
        lost: 'lost',
      }),
    );
  }
  if (result.detection) {
    const d = result.detection;
    parts.push('', `## Failure detection (SMAC, default settings)`, '');
    parts.push(
      `Soak of ${d.soakSeconds} s with ${d.loadWritesPerSecPerRegion} writes/s in every region (${d.soakAcked} acked, ${d.soakFailed} failed${d.soakFailures?.length > 0 ? `: ${d.soakFailures.join('; ')}` : ''}): **${d.suspicions.length} suspicions of live members**${
        d.suspicions.length > 0
          ? ` (${d.suspicions
              .map((s) => `${s.at} → ${s.about} ${s.to}`)
              .slice(0, 12)
              .join('; ')}${d.suspicions.length > 12 ? '; …' : ''})`
          : ''
      }.`,
      '',
    );
    parts.push(
      table(
        ['region', `suspects ${d.victim} after ms`, `declares ${d.victim} dead after ms`],
        Object.entries(d.detection).map(([r, x]) => [r, x.suspectMs, x.deadMs ?? 'not within 120 s']),
      ),
    );
  }
  if (result.idle) {
    parts.push('', `## Idle (${result.idle.seconds} s after start-up)`, '');
    parts.push(
      table(
        ['system', 'region', 'RSS MB', 'CPU %', 'WAN sent B/s', 'WAN received B/s'],
        result.idle.rows.map((r) => [
          r.system,
          r.region,
          r.rssMb,
          r.cpuPct,
          r.wanSentPerSec ?? `${r.wanBytesPerSec} both ways`,
          r.wanReceivedPerSec,
        ]),
      ),
    );
    if (result.rssAfterLoad)
      parts.push(
        '',
        `RSS after the load phases (MB): SMAC ${result.rssAfterLoad.smac.join(' / ')}; etcd ${result.rssAfterLoad.etcd.join(' / ')}.`,
      );
  }
  if (result.errors?.length > 0)
    parts.push('', '## Phases that failed', '', ...result.errors.map((e) => `- ${e}`));
  return `${parts.join('\n')}\n`;
}
