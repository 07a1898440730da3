/**
 * Tools for agent tests of mutual reaps (tests only): closing a side of a split to every peer
 * outside it, and a one-line dump per agent for a failure.
 */
import type { Agent } from '../../src/agent/agent.js';
import type { PeerGate } from '../../src/agent/agent-runtime.js';
import { hits } from './helpers.js';

/** Until the heal, `side` refuses every peer outside it (a joiner it does not know yet, too). */
export function closeSide(side: readonly Agent[]): void {
  const ids = new Set(side.map((x) => x.peerId));
  for (const x of side) {
    const gate = (x as unknown as { isolation: PeerGate }).isolation;
    const refused = gate.refused;
    gate.refused = (id, inbound) => !ids.has(id) || refused(id, inbound);
  }
}

/** Prints each agent's peer id, origin, hits, counters and reaps (the tails of the ids). */
export function dump(xs: readonly Agent[]): void {
  for (const x of xs) {
    const st = x.status();
    const reaps = st.compaction.reaps.map((r) => [
      r.epoch.slice(-4),
      r.cut,
      r.participants.map((p) => p.slice(-4)),
    ]);
    console.log(
      `${x.peerId.slice(-4)} ${st.origin.slice(-4)} hits ${hits(x)} ownOps ${st.compaction.ownOpsKept} ${JSON.stringify(st.counters)} ${JSON.stringify(reaps)}`,
    );
  }
}
