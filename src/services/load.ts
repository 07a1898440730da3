/**
 * Load monitoring on the CRDT keyspace (paper §IV-B "Load Monitoring": node ids mapped to
 * integer counters that nodes raise and lower with their active connections; DESIGN.md
 * "Services on the CRDTs").
 *
 * - `_sys/load/<metric>` is an OR-map: field = node id, a pn-counter. Each node changes only
 *   its own field, so increments and decrements from everywhere commute and no update is lost.
 * - `_sys/gauges/<metric>` is an OR-map: field = node id, an lww-register holding a number
 *   (CPU, queue depth ...), written only by that node.
 *
 * Queries read the local replica and combine it with `Liveness`: sums and per-region figures
 * count live nodes only (a dead node's connections are gone with it), while the per-node list
 * shows every node that ever reported, with its liveness.
 */
import { isRecord } from '../core/json.js';
import { checkGaugeValue, checkLoadDelta, checkMetricName, isSafeName } from './bounds.js';
import type { KeyspaceHost, Liveness } from './host.js';
import { ServiceError, ServiceErrorCode } from './service-errors.js';

export const LOAD_PREFIX = '_sys/load/';
export const GAUGES_PREFIX = '_sys/gauges/';
/** The region of a live node whose region Liveness does not know. */
export const UNKNOWN_REGION = 'unknown';

/** A counter figure: a JSON number while safe, its decimal string beyond (as pn-counter reads). */
export type CounterValue = number | string;

export interface NodeFigure<V> {
  readonly node: string;
  readonly value: V;
  readonly alive: boolean;
  readonly region: string | null;
}

export interface Figures<V> {
  /** Over live nodes. */
  readonly sum: V;
  /** Live nodes that reported. */
  readonly count: number;
  /** Every node that reported, live or not, by node id. */
  readonly nodes: NodeFigure<V>[];
  /** Sum over the live nodes of each region. */
  readonly regions: Record<string, V>;
}

export interface LoadView {
  readonly metric: string;
  readonly counter: Figures<CounterValue> | null;
  readonly gauge: Figures<number> | null;
}

export interface MetricSummary {
  readonly name: string;
  readonly counter: boolean;
  readonly gauge: boolean;
}

export interface LoadMonitorOptions {
  readonly host: KeyspaceHost;
  readonly liveness: Liveness;
}

export class LoadMonitor {
  private readonly host: KeyspaceHost;
  private readonly liveness: Liveness;

  constructor(options: LoadMonitorOptions) {
    this.host = options.host;
    this.liveness = options.liveness;
  }

  /** This node's id: the field its counters and gauges write. */
  get node(): string {
    return this.host.peerId;
  }

  /** Raises this node's counter of `metric` by `by` (default 1); resolves with its new value here. */
  async increment(metric: string, by?: number): Promise<CounterValue> {
    return this.count(metric, 'increment', checkLoadDelta(by));
  }

  /** Lowers this node's counter of `metric` by `by` (default 1); it may go below zero. */
  async decrement(metric: string, by?: number): Promise<CounterValue> {
    return this.count(metric, 'decrement', checkLoadDelta(by));
  }

  /**
   * Resets this node's counter to zero (after a restart, say, when the connections it counted
   * are gone). Only this node writes its field, so the reset removes exactly what it counted.
   */
  async resetCounter(metric: string): Promise<void> {
    checkMetricName(metric);
    const key = LOAD_PREFIX + metric;
    if (!this.hasField(key, this.host.peerId)) return;
    await this.host.write(
      [{ type: 'or-map', key, op: { kind: 'remove', field: this.host.peerId, type: 'pn-counter' } }],
      { system: true },
    );
  }

  /** Sets this node's gauge of `metric`. */
  async setGauge(metric: string, value: number): Promise<void> {
    checkMetricName(metric);
    checkGaugeValue(value);
    await this.host.write(
      [
        {
          type: 'or-map',
          key: GAUGES_PREFIX + metric,
          op: { kind: 'update', field: this.host.peerId, type: 'lww-register', op: { kind: 'set', value } },
        },
      ],
      { system: true },
    );
  }

  /** Removes this node's gauge of `metric` (it stops reporting it). */
  async clearGauge(metric: string): Promise<void> {
    checkMetricName(metric);
    const key = GAUGES_PREFIX + metric;
    if (!this.hasField(key, this.host.peerId)) return;
    await this.host.write(
      [{ type: 'or-map', key, op: { kind: 'remove', field: this.host.peerId, type: 'lww-register' } }],
      { system: true },
    );
  }

  /** Every metric with a counter or a gauge, by name. */
  metrics(): MetricSummary[] {
    const byName = new Map<string, { counter: boolean; gauge: boolean }>();
    const note = (prefix: string, kind: 'counter' | 'gauge'): void => {
      for (const o of this.host.list(prefix)) {
        const name = o.key.slice(prefix.length);
        if (o.type !== 'or-map' || !isSafeName(name) || !isRecord(o.value)) continue;
        if (Object.keys(o.value).length === 0) continue;
        const m = byName.get(name) ?? { counter: false, gauge: false };
        m[kind] = true;
        byName.set(name, m);
      }
    };
    note(LOAD_PREFIX, 'counter');
    note(GAUGES_PREFIX, 'gauge');
    return [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, m]) => ({ name, ...m }));
  }

  /** Counter and gauge figures of `metric`; NOT_FOUND when no node reported either. */
  query(metric: string): LoadView {
    checkMetricName(metric);
    const counter = this.counterFigures(metric);
    const gauge = this.gaugeFigures(metric);
    if (!counter && !gauge)
      throw new ServiceError(
        ServiceErrorCode.NotFound,
        `No node has reported metric ${JSON.stringify(metric)}.`,
      );
    return { metric, counter, gauge };
  }

  private async count(metric: string, kind: 'increment' | 'decrement', by: number): Promise<CounterValue> {
    checkMetricName(metric);
    const key = LOAD_PREFIX + metric;
    const node = this.host.peerId;
    await this.host.write(
      [{ type: 'or-map', key, op: { kind: 'update', field: node, type: 'pn-counter', op: { kind, by } } }],
      { system: true },
    );
    const v = this.fields(key)[node];
    return typeof v === 'number' || typeof v === 'string' ? v : 0;
  }

  private counterFigures(metric: string): Figures<CounterValue> | null {
    const entries = Object.entries(this.fields(LOAD_PREFIX + metric));
    if (entries.length === 0) return null;
    let sum = 0n;
    const regions = new Map<string, bigint>();
    const nodes: NodeFigure<CounterValue>[] = [];
    let count = 0;
    for (const [node, raw] of entries) {
      const n = toBigInt(raw);
      if (n === undefined) continue;
      const { alive, region } = this.where(node);
      nodes.push({ node, value: fromBigInt(n), alive, region });
      if (!alive) continue;
      count++;
      sum += n;
      const r = region ?? UNKNOWN_REGION;
      regions.set(r, (regions.get(r) ?? 0n) + n);
    }
    return {
      sum: fromBigInt(sum),
      count,
      nodes: nodes.sort((a, b) => compare(a.node, b.node)),
      regions: Object.fromEntries(
        [...regions].sort(([a], [b]) => compare(a, b)).map(([r, v]) => [r, fromBigInt(v)]),
      ),
    };
  }

  private gaugeFigures(metric: string): Figures<number> | null {
    const entries = Object.entries(this.fields(GAUGES_PREFIX + metric));
    let sum = 0;
    let count = 0;
    const regions = new Map<string, number>();
    const nodes: NodeFigure<number>[] = [];
    for (const [node, value] of entries) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue; // unset (null) or foreign
      const { alive, region } = this.where(node);
      nodes.push({ node, value, alive, region });
      if (!alive) continue;
      count++;
      sum += value;
      const r = region ?? UNKNOWN_REGION;
      regions.set(r, (regions.get(r) ?? 0) + value);
    }
    if (nodes.length === 0) return null;
    return {
      sum,
      count,
      nodes: nodes.sort((a, b) => compare(a.node, b.node)),
      regions: Object.fromEntries([...regions].sort(([a], [b]) => compare(a, b))),
    };
  }

  private where(node: string): { alive: boolean; region: string | null } {
    return {
      alive: node === this.host.peerId || this.liveness.isAlive(node),
      region: this.liveness.region(node) ?? null,
    };
  }

  private fields(key: string): Record<string, unknown> {
    const value = this.host.read('or-map', key)?.value;
    return isRecord(value) ? value : {};
  }

  private hasField(key: string, field: string): boolean {
    return Object.hasOwn(this.fields(key), field);
  }
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return undefined;
}

function fromBigInt(n: bigint): CounterValue {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : n.toString();
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
