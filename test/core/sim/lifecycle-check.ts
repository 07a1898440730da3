/**
 * What must hold once a lifecycle simulation healed and went quiet: every up node has the same
 * clock and an empty causal buffer; no acknowledged event of a live origin is missing, nor one
 * of a stopped origin that a survivor held when it stopped; and every up node reads exactly
 * what an oracle reads that applied each event the final clock covers once, in creation order,
 * and never compacted (compaction must not change a value). The `acked` counter, which only
 * grows, must equal the sum of the increments of those events.
 */
import { vcEquals, vcGet, vcToRecord } from '../../../src/core/clock/vector-clock.js';
import { Replica } from '../../../src/core/replica.js';
import type { LifecycleCluster } from './lifecycle-cluster.js';

export const ACKED_KEY = 'acked';

export function checkConverged(c: LifecycleCluster): string[] {
  const problems: string[] = [];
  const ups = c.upNodes();
  const firstIdx = ups[0];
  if (firstIdx === undefined) return ['no node is up'];
  const first = c.node(firstIdx);
  const clock = first.replica.clock();
  for (const i of ups) {
    const n = c.node(i);
    if (!vcEquals(n.replica.clock(), clock))
      problems.push(
        `clock of ${n.peer} ${JSON.stringify(vcToRecord(n.replica.clock()))} differs from ` +
          `${first.peer}'s ${JSON.stringify(vcToRecord(clock))}`,
      );
    // Events may wait for good behind an event that only a stopped origin ever held (sent
    // after one the network dropped, then the node died or lost its store): nothing else may.
    const buffered = n.replica.stats().buffered;
    const gaps = n.replica.gaps();
    const live = gaps.filter((g) => ups.some((j) => c.node(j).origin === g.origin));
    if (buffered > 0 && (gaps.length === 0 || live.length > 0))
      problems.push(`${n.peer} holds ${buffered} events in its causal buffer (gaps ${JSON.stringify(gaps)})`);
  }
  // Liveness: once quiet, no member holds compaction back for good (not a dead or reaped one,
  // not one that left, not a lost store's old epoch): every log is compacted empty.
  for (const i of ups) {
    const n = c.node(i);
    if (n.log.size === 0) continue;
    const members = n.view.members(n.candidates());
    const blockers = n.view
      .blockers(n.replica.clock(), members, c.nowMs)
      .map((b) => `${b.peerId} (${b.reason})`);
    problems.push(
      `${n.peer}'s log still holds ${n.log.size} events once quiet; held back by ${blockers.join(', ') || 'nobody'}`,
    );
  }
  for (const [origin, made] of c.created) {
    const live = ups.some((i) => c.node(i).origin === origin);
    const want = live ? made : (c.mustHave.get(origin) ?? made);
    const got = vcGet(clock, origin);
    if (got < want)
      problems.push(`acknowledged ${origin}#${want} is beyond ${first.peer}'s clock (${got}; made ${made})`);
  }
  // The oracle: each covered event applied once, in creation order (a causal order), uncompacted.
  const oracle = new Replica({ id: 'oracle' });
  let acked = 0;
  for (const { event, acked: by } of c.archive) {
    if (event.seq > vcGet(clock, event.origin)) continue;
    oracle.step({ kind: 'remote', event, bytes: 100 }, c.nowMs);
    acked += by;
  }
  if (!vcEquals(oracle.clock(), clock))
    problems.push(`the final clock covers events that were never made, or not in causal order`);
  const want = new Map(oracle.list().map((o) => [`${o.type} ${o.key}`, JSON.stringify(o.value)]));
  for (const i of ups) {
    const n = c.node(i);
    const have = new Map(n.replica.list().map((o) => [`${o.type} ${o.key}`, JSON.stringify(o.value)]));
    for (const id of new Set([...want.keys(), ...have.keys()])) {
      if (want.get(id) !== have.get(id))
        problems.push(
          `value of ${id} at ${n.peer}: ${have.get(id) ?? 'absent'}; expected ${want.get(id) ?? 'absent'}`,
        );
    }
    const counter = n.replica.read('pn-counter', ACKED_KEY)?.value ?? 0;
    if (counter !== acked)
      problems.push(
        `pn-counter ${ACKED_KEY} = ${JSON.stringify(counter)} at ${n.peer}, but the delivered acknowledged increments sum to ${acked}`,
      );
  }
  // Retired epochs: the same everywhere, and pruned from every clock a node shows and sends.
  const retired = JSON.stringify(vcToRecord(first.replica.retiredCuts()));
  for (const i of ups) {
    const n = c.node(i);
    const mine = n.replica.retiredCuts();
    if (JSON.stringify(vcToRecord(mine)) !== retired)
      problems.push(`${n.peer} retired ${JSON.stringify(vcToRecord(mine))}, ${first.peer} ${retired}`);
    const sent = c.sentClock(i);
    for (const epoch of mine.keys())
      if (sent.has(epoch)) problems.push(`${n.peer} still sends retired epoch ${epoch} in its clock`);
    // Pruned, a retired epoch still counts as held up to its cut by every member: it must not
    // hold its dots out of stability (a pruned entry read as zero would).
    const stable = n.view.stable(n.replica.clock(), n.view.stabilityMembers(n.candidates(), c.nowMs));
    for (const [epoch, cut] of mine)
      if (vcGet(stable, epoch) < cut)
        problems.push(
          `${n.peer}'s stable frontier holds retired ${epoch} at ${vcGet(stable, epoch)}, below its cut ${cut}`,
        );
  }
  if (c.stats.rejected > 0) problems.push(`${c.stats.rejected} events or ops were rejected (see trace)`);
  return problems;
}
