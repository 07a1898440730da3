// The WAN benchmark's pure part (scripts/bench/wan/report.js and plots.js): statistics,
// visibility as a multiple of the one-way delay, the summary and markdown report, and the
// vega-lite plots compiled and rendered to SVG. No processes, no timing.
import { describe, expect, it } from 'vitest';
import { latencySpec, plotSpecs, renderSvg } from '../../scripts/bench/wan/plots.js';
import {
  markdownReport,
  linkBytes,
  percentile,
  span,
  stats,
  summaryRows,
  visibilityRows,
  type WanResult,
} from '../../scripts/bench/wan/report.js';

const cell = (
  system: string,
  concurrency: number,
  region: string,
  role: string,
  p50: number,
  p99: number,
) => ({
  system,
  concurrency,
  region,
  role,
  n: 1000,
  p50,
  p99,
  max: p99 * 2,
  errors: 0,
  writesPerSec: Math.round(1000 / p50),
});

function fixture(): WanResult {
  const part = (system: string, region: string, side: string, acked: number, failed: number) => ({
    system,
    region,
    side,
    attempted: 300,
    ackedDuringCut: acked,
    ackedAfterHeal: 300 - acked - failed,
    failed,
    failedAfterMs: failed > 0 ? 9004 : undefined,
    identicalAfterHealMs: system === 'smac' ? 3271 : 6624,
    lost: 0,
  });
  return {
    errors: [],
    loadByPhase: { latency: [4.9, 12.1] },
    links: [{ from: 'sgp', to: 'fra', configuredMs: 157, minMs: 159.2, medianMs: 159.9, maxMs: 162.2 }],
    idle: {
      seconds: 30,
      rows: [
        {
          system: 'smac',
          region: 'sgp',
          rssMb: 170,
          cpuPct: 2.6,
          wanSentPerSec: 5100,
          wanReceivedPerSec: 5347,
        },
        { system: 'etcd', region: 'sgp', rssMb: 28, cpuPct: 0.6, wanSentPerSec: 900, wanReceivedPerSec: 309 },
      ],
    },
    latency: {
      samples: 1000,
      cells: [
        cell('smac', 1, 'sgp', 'agent', 4.4, 269),
        cell('smac', 1, 'fra', 'agent', 9.9, 569),
        cell('etcd', 1, 'sgp', 'follower', 316, 337),
        cell('etcd', 1, 'fra', 'leader', 160, 170),
      ],
    },
    visibility: {
      samples: 2,
      rows: visibilityRows([
        { system: 'smac', from: 'sgp', to: 'fra', oneWayMs: 78.5, ms: 85 },
        { system: 'etcd', from: 'sgp', to: 'fra', oneWayMs: 78.5, ms: 240 },
      ]),
    },
    burst: {
      rows: [
        {
          system: 'smac',
          from: 'sgp',
          to: 'fra',
          writes: 5000,
          acked: 5000,
          writesPerSec: 1195,
          allVisibleMs: 4990,
        },
        {
          system: 'etcd',
          from: 'sgp',
          to: 'fra',
          writes: 5000,
          acked: 5000,
          writesPerSec: 48,
          allVisibleMs: 104000,
        },
      ],
    },
    partition: {
      seconds: 60,
      cutRegion: 'sfo',
      rows: [
        part('smac', 'sgp', 'majority', 300, 0),
        part('smac', 'sfo', 'minority', 300, 0),
        part('etcd', 'sgp', 'majority', 299, 0),
        part('etcd', 'sfo', 'minority', 0, 280),
      ],
    },
    detection: {
      soakSeconds: 600,
      loadWritesPerSecPerRegion: 50,
      soakAcked: 90000,
      soakFailed: 0,
      suspicions: [{ at: 'sgp', about: 'fra', to: 'suspect' }],
      victim: 'sfo',
      detection: { sgp: { suspectMs: 2075, deadMs: 6617 }, fra: { suspectMs: 2110, deadMs: undefined } },
    },
    meta: {
      command: 'npm run bench:wan',
      quick: false,
      startedAt: '2026-12-06T20:08:25Z',
      endedAt: '2026-12-06T20:38:25Z',
      durationS: 1800,
      cpus: 2,
      loadAverage: { start: 4.9, max: 11.7, end: 8 },
      node: 'Node v24.9.0',
      etcdVersion: '3.4.23',
      etcdTuning: ['--heartbeat-interval=200'],
    },
  };
}

describe('WAN benchmark statistics', () => {
  it('takes nearest-rank percentiles and skips samples that never arrived', () => {
    const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(500);
    expect(percentile(sorted, 99)).toBe(990);
    expect(percentile([], 50)).toBeUndefined();
    expect(stats([3, undefined, 1, 2])).toEqual({ n: 3, p50: 2, p99: 3, max: 3 });
    expect(stats([])).toEqual({ n: 0, p50: undefined, p99: undefined, max: undefined });
  });

  it('groups visibility by system and ordered pair, as a multiple of the one-way delay', () => {
    const rows = visibilityRows([
      { system: 'smac', from: 'sgp', to: 'fra', oneWayMs: 80, ms: 88 },
      { system: 'smac', from: 'sgp', to: 'fra', oneWayMs: 80, ms: 120 },
      { system: 'smac', from: 'sgp', to: 'fra', oneWayMs: 80, ms: undefined },
      { system: 'smac', from: 'fra', to: 'sgp', oneWayMs: 80, ms: 84 },
    ]);
    expect(rows).toHaveLength(2);
    const sf = rows.find((r) => r.from === 'sgp');
    expect(sf).toMatchObject({ n: 2, missed: 1, p50: 88, p99: 120, ratioP50: 1.1, ratioP99: 1.5 });
  });

  it("splits each proxy's bytes into what each region sent and received, per system", () => {
    // sgp>fra: connections sgp opened to fra; fra>sgp: the other way; sgp>sfo touches sfo only.
    const proxies = [
      { name: 'sgp>fra', bytesByPort: { 7946: 100, 2380: 40 }, forwardBytesByPort: { 7946: 70, 2380: 10 } },
      { name: 'fra>sgp', bytesByPort: { 7946: 50 }, forwardBytesByPort: { 7946: 20 } },
      { name: 'sgp>sfo', bytesByPort: { 7946: 8 }, forwardBytesByPort: { 7946: 8 } },
    ];
    const out = linkBytes(proxies, ['sgp', 'fra', 'sfo'], { smac: [7946], etcd: [2379, 2380] });
    expect(out.smac).toEqual([
      { sent: 70 + 30 + 8, received: 30 + 20 },
      { sent: 30 + 20, received: 70 + 30 },
      { sent: 0, received: 8 },
    ]);
    expect(out.etcd?.[0]).toEqual({ sent: 10, received: 30 });
    expect(out.etcd?.[1]).toEqual({ sent: 30, received: 10 });
  });

  it('writes ranges compactly', () => {
    expect(span([4.44, 9.91, undefined])).toBe('4.4–9.9');
    expect(span([7, 7])).toBe('7');
    expect(span([undefined])).toBe('—');
  });
});

describe('WAN benchmark report', () => {
  it('summarizes SMAC against etcd, one line per measure', () => {
    const rows = summaryRows(fixture());
    const find = (prefix: string) => rows.find((r) => r[0]?.startsWith(prefix));
    expect(find('local write c=1')?.[1]).toBe('4.4–9.9 / 269–569 / 538–1138');
    expect(find('local write c=1')?.[2]).toBe('p50 leader 160, followers 316; p99 leader 170, followers 337');
    expect(rows.filter((r) => r[0]?.includes('burst'))).toHaveLength(1);
    expect(find('5000-write burst')?.slice(1)).toEqual([
      '4990 ms (1195 writes/s)',
      '104000 ms (48 writes/s)',
    ]);
    expect(find('60 s partition')?.slice(1)).toEqual(['300 of 300', '0 of 300']);
    expect(find('acknowledged writes lost')?.slice(1)).toEqual(['0', '0']);
    expect(find('SIGKILL')?.[1]).toBe('6617 (some never)');
    expect(find('false suspicions')?.[1]).toBe('1');
    expect(find('idle')?.slice(1)).toEqual(['170 / 2.6 / 5100 / 5347', '28 / 0.6 / 900 / 309']);
  });

  it('renders the markdown with the command, the load and the measured round trips', () => {
    const md = markdownReport(fixture());
    expect(md).toContain('Command: `npm run bench:wan`');
    expect(md).toContain('load average 4.9 at the start, 11.7 at most');
    expect(md).toContain('other work ran on the machine');
    expect(md).toContain('each phase: latency 4.9 → 12.1');
    expect(md).toContain('| sgp → fra | 157 | 159.2 | 159.9 | 162.2 |');
    expect(md).toContain('not within 120 s');
    expect(md).not.toContain('not for quoting');
    expect(markdownReport({ ...fixture(), meta: { ...fixture().meta, quick: true } })).toContain(
      'not for quoting',
    );
  });
});

describe('WAN benchmark plots', () => {
  it('plots every latency cell with its role and p50 ≤ p99 ≤ max', () => {
    const values = latencySpec(fixture().latency?.cells ?? []).data.values;
    expect(values).toHaveLength(4);
    expect(values.map((v) => v.system)).toEqual(['smac', 'smac', 'etcd (follower)', 'etcd (leader)']);
  });

  it('compiles and renders every plot to SVG', async () => {
    const specs = plotSpecs(fixture());
    expect(Object.keys(specs).sort()).toEqual(['wan-latency', 'wan-partition', 'wan-visibility']);
    for (const spec of Object.values(specs)) {
      const svg = await renderSvg(spec);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('</svg>');
    }
  });
});
