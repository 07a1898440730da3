/**
 * Network splits between in-process agents (tests only): each agent's connection gater refuses
 * the peers on the other sides and its open connections to them are closed; `heal` lifts it.
 */
import type { Agent } from '../../src/agent/agent.js';
import type { PeerGate } from '../../src/agent/agent-runtime.js';
import { waitFor } from './helpers.js';

interface Internals {
  isolation: PeerGate;
  node: { getConnections(): { remotePeer: { toString(): string }; close(): Promise<void> }[] };
}

const restore = new Map<Agent, (peerId: string, inbound: boolean) => boolean>();

/** Splits the agents into `sides`; resolves once no connection crosses a side. */
export async function split(sides: readonly (readonly Agent[])[]): Promise<void> {
  for (const side of sides) {
    const others = new Set(sides.filter((s) => s !== side).flatMap((s) => s.map((x) => x.peerId)));
    for (const x of side) {
      const gate = (x as unknown as Internals).isolation;
      const refused = restore.get(x) ?? gate.refused;
      restore.set(x, refused);
      gate.refused = (id, inbound) => others.has(id) || refused(id, inbound);
    }
  }
  const crossing = (x: Agent) => {
    const side = sides.find((s) => s.includes(x)) ?? [];
    return (x as unknown as Internals).node
      .getConnections()
      .filter((c) => !side.some((y) => y.peerId === c.remotePeer.toString()));
  };
  const all = sides.flat();
  for (const x of all) await Promise.all(crossing(x).map((c) => c.close().catch(() => undefined)));
  await waitFor(() => all.every((x) => crossing(x).length === 0), 'no connection across the split');
}

/** Lifts every split of `agents` and has them dial their join peers again. */
export async function heal(agents: readonly Agent[]): Promise<void> {
  for (const x of agents) {
    const refused = restore.get(x);
    if (refused) (x as unknown as Internals).isolation.refused = refused;
    restore.delete(x);
  }
  for (const x of agents) await x.isolate(false);
}
