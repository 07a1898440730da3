/**
 * Helpers for agent tests: real agents (libp2p on loopback, SQLite in temp dirs) started in
 * this process, and bounded polling for conditions (no fixed sleeps, no timing assertions).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { type AgentConfig, resolveAgentConfig } from '../../src/agent/config.js';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';

export const quiet = pino({ level: 'silent' });

export function tempDir(prefix = 'smac-agent-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function testConfig(overrides: Partial<Record<keyof AgentConfig, unknown>> = {}): AgentConfig {
  return resolveAgentConfig({
    dataDir: tempDir(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    syncIntervalMs: 300,
    heartbeatIntervalMs: 200,
    logLevel: 'silent',
    ...overrides,
  });
}

/** Starts `n` agents; each joins the first one. */
export async function startCluster(
  n: number,
  overrides: Partial<Record<keyof AgentConfig, unknown>> = {},
  options: AgentOptions = {},
): Promise<Agent[]> {
  const first = await Agent.start(testConfig(overrides), { logger: quiet, ...options });
  const agents = [first];
  const join = first.addresses();
  for (let i = 1; i < n; i++)
    agents.push(await Agent.start(testConfig({ ...overrides, join }), { logger: quiet }));
  return agents;
}

/** Failure-detector settings that detect a dead member in about a second (tests only). */
export const FAST_MEMBERSHIP = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  suspicionMult: 2,
  suspicionMaxTimeoutMult: 2,
  /**
   * memberlist's floor (suspicionMult periods) plus the probe timeout that the last-chance ping
   * used to add after it: the time to refute that these tests were tuned with.
   */
  suspicionFloorMs: 500,
  gossipIntervalMs: 50,
};

/** Agent.start options of a quiet agent with FAST_MEMBERSHIP. */
export const FAST_OPTIONS: AgentOptions = { logger: quiet, membership: FAST_MEMBERSHIP };

/** Like startCluster, with FAST_MEMBERSHIP on every agent. */
export async function startFastCluster(
  n: number,
  overrides: Partial<Record<keyof AgentConfig, unknown>> = {},
): Promise<Agent[]> {
  const first = await Agent.start(testConfig(overrides), FAST_OPTIONS);
  const agents = [first];
  for (let i = 1; i < n; i++)
    agents.push(await Agent.start(testConfig({ ...overrides, join: first.addresses() }), FAST_OPTIONS));
  return agents;
}

/** The addresses `a` listens on, without its peer id: to start it again on the same ones. */
export function listenOf(a: Agent): string[] {
  return a.addresses().map((addr) => addr.replace(/\/p2p\/.*$/, ''));
}

/**
 * Stops `agents` and removes their data directories. A test file keeps its agents in
 * `let agents: Agent[]` and empties it after each test: `afterEach(() => stopAll(agents.splice(0)))`.
 */
export async function stopAll(agents: readonly Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
  for (const a of agents) rmSync(a.config.dataDir, { recursive: true, force: true });
}

/** Polls `cond` every 50 ms until it holds or `timeoutMs` passes; then throws with `what`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function converged(agents: readonly Agent[]): boolean {
  const [first, ...rest] = agents;
  if (!first) return true;
  const clock = JSON.stringify(vcToRecord(first.clock()));
  const state = JSON.stringify(first.list());
  return rest.every(
    (a) => JSON.stringify(vcToRecord(a.clock())) === clock && JSON.stringify(a.list()) === state,
  );
}

export async function waitConverged(
  agents: readonly Agent[],
  what = 'convergence',
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(() => converged(agents), what, timeoutMs);
}

/** Until every agent is connected to at least `k` others. */
export async function waitConnected(agents: readonly Agent[], k = agents.length - 1): Promise<void> {
  await waitFor(
    () => agents.every((a) => a.connectedPeers().length >= k),
    `every agent connected to ${k} peers`,
  );
}

/**
 * Until every agent counts every other as a member stability waits for: each has the others'
 * member records or heartbeats. Tests that cut a member off wait for this first, or the cut
 * may come before the others ever learned of it (a member that joined on the far side).
 */
export async function waitMembersKnown(agents: readonly Agent[]): Promise<void> {
  await waitFor(
    () =>
      agents.every((a) => {
        const members = a.status().compaction.members;
        return agents.every((o) => o === a || members.includes(o.peerId));
      }),
    'every agent to know every other as a member',
  );
}

/** One write per CRDT type, varied by `i`, so agents writing concurrently conflict on every type. */
export function opsForEveryType(i: number): unknown[] {
  return [
    { type: 'pn-counter', key: 'c', op: { kind: i % 3 === 0 ? 'decrement' : 'increment', by: 1 + (i % 4) } },
    { type: 'lww-register', key: 'r', op: { kind: 'set', value: { i } } },
    { type: 'mv-register', key: 'm', op: { kind: 'set', value: i % 5 } },
    { type: 'aw-set', key: 's', op: { kind: i % 4 === 3 ? 'remove' : 'add', value: i % 6 } },
    { type: 'rw-set', key: 'w', op: { kind: i % 4 === 2 ? 'remove' : 'add', value: i % 6 } },
    { type: 'ew-flag', key: 'f', op: { kind: i % 2 ? 'enable' : 'disable' } },
    {
      type: 'or-map',
      key: 'o',
      op: { kind: 'update', field: `n${i % 3}`, type: 'pn-counter', op: { kind: 'increment' } },
    },
  ];
}

/** How many writes of `opsForEveryType` an agent has applied: the or-map field counters sum to it. */
export function writesSeen(agent: Agent): number {
  const v = agent.read('or-map', 'o')?.value as Record<string, number> | undefined;
  return Object.values(v ?? {}).reduce((a, b) => a + b, 0);
}

/** The `hits` counter tests increment (0 while absent). */
export const hits = (a: Agent): number => (a.read('pn-counter', 'hits')?.value as number | undefined) ?? 0;

/** Increments `hits` at `a` by `by`; returns `by`, so that a test sums what was acknowledged. */
export async function incHits(a: Agent, by: number): Promise<number> {
  await a.write([{ type: 'pn-counter', key: 'hits', op: { kind: 'increment', by } }]);
  return by;
}
