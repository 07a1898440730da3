/**
 * Tools for agent tests of mutual reaps (tests only): closing a side of a split to every peer
 * outside it, and a one-line dump per agent for a failure.
 */
import type { Agent } from '../../src/agent/agent.js';
import type { PeerGate } from '../../src/agent/agent-runtime.js';
import type { PullRecord } from '../../src/agent/pull-log.js';
import { hits, waitFor } from './helpers.js';

/** Until the heal, `side` refuses every peer outside it (a joiner it does not know yet, too). */
export function closeSide(side: readonly Agent[]): void {
  const ids = new Set(side.map((x) => x.peerId));
  for (const x of side) {
    const gate = (x as unknown as { isolation: PeerGate }).isolation;
    const refused = gate.refused;
    gate.refused = (id, inbound) => !ids.has(id) || refused(id, inbound);
  }
}

/**
 * Where each agent stands: origin, hits, client batches kept, counters, reaps, clock, retired
 * epochs, peers (connected, last heartbeat), members, join addresses, its last pulls (peer,
 * trigger, outcome) and, when given, its last warnings. Ids are shown by their last 4 chars.
 */
export function dump(xs: readonly Agent[], warnings?: ReadonlyMap<Agent, readonly string[]>): void {
  const short = (id: string) => id.slice(-4);
  for (const x of xs) {
    const st = x.status();
    const reaps = st.compaction.reaps.map((r) => [short(r.epoch), r.cut, r.participants.map(short)]);
    console.log(
      `${short(x.peerId)} ${short(st.origin)} hits ${hits(x)} ownOps ${st.compaction.ownOpsKept} ${JSON.stringify(st.counters)} ${JSON.stringify(reaps)}`,
    );
    const peers = st.peers.map((p) => [short(p.peerId), p.connected, p.lastHeartbeatAgoMs]);
    const join = st.join.map((a) => [a.state, a.failures, short(a.peerId ?? '')]);
    console.log(
      `  clock ${JSON.stringify(st.clock)} retired ${JSON.stringify(st.retired)} peers ${JSON.stringify(peers)} members ${JSON.stringify(st.compaction.members.map(short))} refused ${JSON.stringify(st.refused)} join ${JSON.stringify(join)}`,
    );
    const pulls = (
      x as unknown as { antiEntropy: { pulls: { recent(): readonly PullRecord[] } } }
    ).antiEntropy.pulls
      .recent()
      .map((r) => [
        short(r.peer),
        r.trigger,
        r.outcome,
        r.endedAt === undefined ? null : r.endedAt - r.startedAt,
      ]);
    console.log(`  pulls ${JSON.stringify(pulls)}`);
    for (const l of warnings?.get(x)?.slice(-20) ?? []) console.log(`  ${l}`);
  }
}

/** The objects of `a` outside `_sys/`, as one string: equal replicas give equal strings. */
const userState = (a: Agent) => JSON.stringify(a.list().filter((o) => !o.key.startsWith('_sys/')));

/**
 * Waits (240 s at most) until every agent holds `acked` hits, each acknowledged write once, and
 * the same objects; on failure prints `dump` of them and `more()` first.
 */
export async function waitAllEqual(
  agents: readonly Agent[],
  acked: number,
  opts: { warnings?: ReadonlyMap<Agent, readonly string[]>; more?: () => string } = {},
): Promise<void> {
  await waitFor(
    () =>
      agents.every((x) => hits(x) === acked) && agents.every((x) => userState(x) === userState(agents[0]!)),
    'every replica equal, with every acknowledged write once',
    240_000,
  ).catch((e: unknown) => {
    dump(agents, opts.warnings);
    if (opts.more) console.log(opts.more());
    throw e;
  });
}
