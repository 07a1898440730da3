/**
 * One seeded run of a mutual reap (issue 7; src/core/mutual-reap.ts): 3-5 nodes split into two
 * sides for far longer than reapAfterMs, both sides writing (random ops on every type and an
 * only-growing `acked` counter) and compacting; each node reaps every member silent for
 * reapAfterMs with the agent's own reaper (src/agent/reaper.ts), so each side agrees cuts that
 * retire the other side's epochs. Every beat, during the split (a member that moves carries
 * reports between sides) and after the heal, each node decides as the agent does
 * (src/agent/snapshot-exchange.ts, rebase.ts `check`): a node that sees, in a peer's state, its
 * own epoch retired below what it holds rebases, unless that reap is void against its own
 * reaps; so does a node that holds another member's epoch beyond such a cut, for a reap that
 * `firmlyStands` (a joiner that took a losing side's state, or a loser that rebased onto a side
 * that loses in turn: a foreign epoch). A rebase takes a new epoch and an empty state, installs
 * the state of a node that retires that epoch at the cut, and re-runs the client writes it made
 * beyond the cut; from a foreign epoch, it hands over its events made before it held that epoch
 * and re-runs the writes made since (mutual-cluster.ts `handOver`). A rebase re-runs only the
 * client batches its node still keeps (`ownOps`); `joiner` adds a node that joins one side
 * during the split.
 *
 * Checked after quiescence (lifecycle-check.ts, plus): every up node reads the same, and the
 * `acked` counter equals the sum of every acknowledged increment, each once: nothing lost.
 * `rule: false` is the mutation: every node rebases when a peer's state retires its epoch.
 */
import { vcGet } from '../../../src/core/clock/vector-clock.js';
import { compareSides, firmlyStands, isMutual, sideOf, standingOf } from '../../../src/core/mutual-reap.js';
import type { ReapState } from '../../../src/core/reaping.js';
import { peerOfOrigin } from '../../../src/core/origin.js';
import { MAX_EVENT_WIRE_VERSION } from '../../../src/core/codec/event-codec.js';
import { Prng } from '../../support/prng.js';
import { ACKED_KEY, checkConverged } from './lifecycle-check.js';
import { MutualCluster, type OwnOpsRule } from './mutual-cluster.js';
import { randomKeyOp } from './random-ops.js';
import { membershipViewRule } from './stability-rules.js';

const HEARTBEAT_MS = 100;
const REAP_AFTER_MS = 40 * HEARTBEAT_MS;

export interface MutualReapRun {
  readonly problems: string[];
  readonly summary: string;
  /** Nodes that rebased, and nodes that kept their state through the heal. */
  readonly rebased: number;
  readonly kept: number;
}

interface Pending {
  readonly from: string;
  readonly cut: number;
  /** The side of the reap it rebases for: its state is taken from a member holding that reap. */
  readonly side: readonly string[];
  readonly ops: readonly { ops: unknown[]; acked: number }[];
}

export interface MutualReapOptions {
  /**
   * The rule a node decides by: `sides` (src/core/mutual-reap.ts, the default); `pairwise`, the
   * rule of before (two reaps against each other; a rebase takes any state that retires its
   * epoch at the cut); false: every node rebases when a peer's state retires its epoch.
   */
  readonly rule?: 'sides' | 'pairwise' | false;
  /** How many sides the split makes (2 by default). */
  readonly sides?: number;
  /** A node moves to another side and back while the reaps collect their reports. */
  readonly mover?: boolean;
  /**
   * A fresh node joins, during the split, the side that ranks last (`small`) or first (`large`)
   * by the members it split with: before that side's markers (they name it) or after.
   */
  readonly joiner?: 'small' | 'large';
  /**
   * When a node keeps its client batches beyond what its members hold (mutual-cluster.ts): while
   * it holds any member reaped (`reaped`, the default, as src/agent/compaction.ts), or, a rule of
   * before, while the members it reaped would win against the side of its reaps (`sides`).
   */
  readonly ownOps?: OwnOpsRule;
}

export function runMutualReap(seed: number, opts: MutualReapOptions = {}): MutualReapRun {
  const rng = new Prng(seed);
  const rule = opts.rule ?? 'sides';
  const k = opts.sides ?? 2;
  const n = rng.int(Math.max(3, k), k + 3);
  const c = new MutualCluster(rng, {
    n: opts.joiner ? n + 1 : n,
    // The joiner (node n) is nobody's seed: the others learn of it only from its side.
    seeds: (i) => (i === n ? [] : Array.from({ length: n }, (_, j) => `n${j}`)),
    rule: membershipViewRule,
    faults: { drop: rng.pick([0, 0.05]), duplicate: rng.pick([0, 0.1]), maxDelayMs: rng.pick([0, 20, 150]) },
    heartbeatMs: HEARTBEAT_MS,
    compactEvery: 5,
    reapAfterMs: REAP_AFTER_MS,
    reap: 'agreed-cut',
    wireVersion: () => MAX_EVENT_WIRE_VERSION,
  });
  if (opts.joiner) c.notYet(n);
  c.ownOps = opts.ownOps ?? 'reaped';
  // Every client write, by (origin, seq): what a rebase re-runs beyond a cut, of those its node
  // still keeps (c.pruned: it drops those its members all hold unless `ownOps` keeps them).
  const written = new Map<string, Map<number, { ops: unknown[]; acked: number }>>();
  let ackedTotal = 0;
  const clientWrite = (i: number, ops: unknown[], acked: number) => {
    c.write(i, ops, acked);
    const { event } = c.archive.at(-1)!;
    const mine = written.get(event.origin) ?? new Map<number, { ops: unknown[]; acked: number }>();
    mine.set(event.seq, { ops, acked });
    written.set(event.origin, mine);
  };
  const randomWrite = (i: number) => {
    const by = rng.int(1, 3);
    ackedTotal += by;
    clientWrite(
      i,
      [randomKeyOp(rng), { type: 'pn-counter', key: ACKED_KEY, op: { kind: 'increment', by } }],
      by,
    );
  };
  for (let i = 0; i < n; i++) c.announce(i);
  const phase = (beats: number) => {
    for (let t = 0; t < beats; t++) {
      for (const i of c.upNodes()) if (!pending.has(i) && rng.chance(0.3)) randomWrite(i);
      c.advance(HEARTBEAT_MS);
      reapSilent();
      // A node decides during the split too, as the agent does (rebase.ts `check` every
      // heartbeat, snapshot-exchange.ts on each snapshot offered), not only after the heal.
      decide();
      finish();
    }
  };
  // Each node reaps the members it has not heard from for reapAfterMs (compaction.ts).
  const reapSilent = () => {
    for (const s of c.upNodes()) {
      const node = c.node(s);
      for (const p of [...node.view.members(node.candidates())].sort()) {
        const heard = node.lastHeard.get(p) ?? c.nowMs;
        if (c.nowMs - heard < REAP_AFTER_MS || node.view.isRetired(p)) continue;
        if (!c.reaper(s).initiate(p)) node.view.retire(p, 'reaped', c.nowMs);
      }
    }
  };
  // Rebases: decided every beat, during the split and after the heal.
  const origins = c.nodes.map((x) => x.origin);
  const pending = new Map<number, Pending>();
  let rebased = 0;
  type Written = { ops: unknown[]; acked: number };
  // The client batches of `origin` after seq `after` that its node still keeps (in order).
  const batches = (i: number, origin: string, after: number, upTo = Infinity): Written[] => {
    const all = [...(written.get(origin) ?? new Map<number, Written>())].filter(
      ([seq]) => seq > after && seq <= upTo,
    );
    const pruned = c.pruned.get(origin) ?? 0;
    const lost = all.filter(([seq]) => seq <= pruned);
    if (lost.length > 0) c.say(`n${i} dropped ${lost.length} batches of ${origin} it has to re-run`);
    return all.filter(([seq]) => seq > pruned).map(([, w]) => w);
  };
  const rebase = (
    i: number,
    from: string,
    cut: number,
    side: readonly string[],
    also: Map<string, number>,
  ) => {
    const node = c.node(i);
    let beyond: Written[];
    if (peerOfOrigin(from) === node.peer) {
      // A rebase from an older epoch re-runs what the current one wrote too (rebase.ts). When the
      // current epoch came from a rebase of that older one (at a higher cut, by a side that lost
      // since), its writes beyond that cut were re-run under the current epoch already: only
      // those up to what the state holds of it are re-run from the older one (seed 9344).
      if (from === node.origin) beyond = batches(i, from, cut);
      else {
        beyond = [...batches(i, from, cut, vcGet(node.replica.clock(), from)), ...batches(i, node.origin, 0)];
        c.mustHave.set(node.origin, 0);
      }
    } else {
      // Another member's epoch held beyond a cut that stands (rebase.ts, rebaseFromForeign): a
      // state taken from a member whose side lost in turn. The events made before the node held
      // such an epoch are handed over; the client writes made since are re-run.
      const first = c.firstBeyond(i, new Map([...also, [from, cut]]));
      const safe = first === undefined ? vcGet(node.replica.clock(), node.origin) : first - 1;
      c.handOver(
        i,
        safe,
        c.upNodes().filter((j) => !pending.has(j)),
      );
      beyond = batches(i, node.origin, safe);
      c.mustHave.set(node.origin, safe);
    }
    c.mustHave.set(from, cut);
    node.epoch++;
    node.fresh();
    pending.set(i, { from, cut, side, ops: beyond });
    rebased++;
    c.say(`n${i} rebases from ${from} at ${cut} (re-runs ${beyond.length})`);
  };
  // Decided on the states as they are at the start of the round, by every node alike: the
  // members learn of the other side's reaps at about the same time, and a rebase runs after.
  // An epoch of its own first; with the rule, another member's epoch too (snapshot-exchange.ts).
  const decide = () => {
    const due: [number, string, number, string[], Map<string, number>][] = [];
    for (const i of c.upNodes()) {
      if (pending.has(i)) continue;
      const mine = c.node(i).replica;
      const self = c.node(i).peer;
      for (const j of c.upNodes()) {
        if (!c.connected(i, j)) continue;
        const theirs = c.node(j).replica;
        const past = [...mine.clock()]
          .filter(([o, held]) => {
            const cut = theirs.reapOf(o)?.cut;
            return cut !== undefined && held > cut && (rule === 'sides' || peerOfOrigin(o) === self);
          })
          .sort(([a], [b]) => Number(peerOfOrigin(b) === self) - Number(peerOfOrigin(a) === self));
        const found = past.find(([o]) => {
          const reap = theirs.reapOf(o)!;
          if (rule === 'pairwise') return !pairwiseVoid(reap, mine.reaps());
          const records = [...mine.reaps(), ...theirs.reaps()];
          // Origins either state holds: members seen in an epoch nobody reaped (mutual-reap.ts).
          const held = [...mine.clock().keys(), ...theirs.clock().keys()];
          if (rule === 'sides' && peerOfOrigin(o) !== self) return firmlyStands(reap, records, held);
          if (rule === 'sides') return standingOf(reap, records, held) === 'stands';
          return true;
        });
        if (!found) continue;
        const reap = theirs.reapOf(found[0])!;
        const also = new Map(past.map(([o]): [string, number] => [o, theirs.reapOf(o)!.cut!]));
        due.push([i, found[0], reap.cut!, sideOf(reap), also]);
        break;
      }
    }
    for (const [i, from, cut, side, also] of due) rebase(i, from, cut, side, also);
  };
  const finish = () => {
    for (const [i, p] of pending) {
      const sources = c.upNodes().filter((j) => {
        const reap = c.node(j).replica.reapOf(p.from);
        if (pending.has(j) || !c.connected(i, j) || reap?.cut !== p.cut) return false;
        // Not a state that is to be given up itself: one holding the reap we rebase for
        // (snapshot-exchange.ts). The old rule took any state that retires the epoch there.
        return rule === 'pairwise' || sideOf(reap).some((m) => p.side.includes(m));
      });
      const k = sources[0];
      if (k === undefined) continue;
      c.pull(i, k);
      if (vcGet(c.node(i).replica.clock(), p.from) < p.cut) continue;
      for (const w of p.ops) clientWrite(i, w.ops, w.acked);
      pending.delete(i);
    }
  };
  phase(rng.int(10, 30));
  // k non-empty sides, far longer apart than reapAfterMs.
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const sides = Array.from({ length: opts.joiner ? n + 1 : n }, () => 0);
  for (const [r, i] of order.entries()) sides[i] = r < k ? r : rng.int(0, k - 1);
  c.splitInto(sides);
  const splitAt = c.sides();
  const beats = Math.round((REAP_AFTER_MS / HEARTBEAT_MS) * 2.5);
  if (opts.mover === true) {
    // A node moves to another side while the reaps collect reports, and back (perhaps twice).
    const m = rng.pick(order);
    const home = sides[m] ?? 0;
    const away = (home + rng.int(1, k - 1)) % k;
    const reap = REAP_AFTER_MS / HEARTBEAT_MS;
    let at = 0;
    for (const t of [rng.int(reap / 4, reap), rng.int(reap + 1, 2 * reap)]) {
      phase(t - at);
      at = t;
      c.move(m, c.sideOf(m) === home ? away : home);
    }
    phase(beats - at);
  } else if (opts.joiner) {
    // The joiner comes through a member of the side that ranks last (or first) as split.
    const members = (s: number) => order.filter((i) => sides[i] === s);
    const peers = (s: number) => members(s).map((i) => c.node(i).peer);
    const ranked = Array.from({ length: k }, (_, s) => s).sort((a, b) => compareSides(peers(a), peers(b)));
    const to = (opts.joiner === 'large' ? ranked[0] : ranked.at(-1)) ?? 0;
    const at = rng.int(1, beats - 5);
    phase(at);
    c.startNext(n, rng.pick(members(to)));
    phase(beats - at);
  } else phase(beats);
  for (const i of c.upNodes()) if (!pending.has(i)) randomWrite(i); // every node wrote since the split
  c.advance(HEARTBEAT_MS);
  const reaped = c.upNodes().filter((i) =>
    c
      .node(i)
      .replica.reaps()
      .some((s) => s.cut !== undefined),
  );

  // Each node's clock and reaps at the heal (for the summary).
  const atHeal = c.upNodes().flatMap((i) => {
    const r = c.node(i).replica;
    return [
      `n${i} ${c.node(i).origin} at the heal: ${JSON.stringify(Object.fromEntries(r.clock()))}`,
      ...r
        .reaps()
        .map(
          (s) =>
            `  reap of ${s.epoch}: side ${sideOf(s).join(',')}, cut ${String(s.cut)}, missing ${s.missing.join(',')}`,
        ),
    ];
  });
  // With three sides or more, two of them meet first, for a while, then all.
  let healAt = 0;
  if (k > 2) {
    const [a, b] = rng.shuffle(Array.from({ length: k }, (_, s) => s));
    for (const i of c.upNodes()) if (c.sideOf(i) === b) c.move(i, a ?? 0);
    healAt = rng.int(1, 30);
  }
  c.opts = { ...c.opts, faults: { drop: 0, duplicate: 0, maxDelayMs: 0 } };
  let quiet = 0;
  let round = 0;
  for (; round < 150 + healAt && quiet < 3 * c.opts.compactEvery; round++) {
    if (round === healAt) c.healAll();
    c.advance(HEARTBEAT_MS);
    decide();
    finish();
    const ups = c.upNodes().filter((i) => !pending.has(i));
    for (const a of ups) for (const b of ups) c.pull(a, b);
    quiet = pending.size === 0 && c.agreed() ? quiet + 1 : 0;
  }
  const problems = checkConverged(c);
  if (pending.size > 0) problems.push(`${pending.size} rebases never found a state to take`);
  for (const i of c.upNodes()) {
    const got = c.node(i).replica.read('pn-counter', ACKED_KEY)?.value ?? 0;
    if (got !== ackedTotal)
      problems.push(
        `n${i}'s ${ACKED_KEY} reads ${JSON.stringify(got)}, but clients were acknowledged ${ackedTotal}`,
      );
  }
  const kept = c.upNodes().filter((i) => c.node(i).origin === origins[i]).length;
  if (kept === 0) problems.push('no node kept its state through the heal');
  const summary = [
    `seed ${seed}: ${n} nodes split ${splitAt}; ${reaped.length} nodes agreed a reap; ` +
      `${rebased} rebased, ${kept} kept their state; ${round} settle rounds`,
    ...c.trace
      .filter((l) => [' rebases ', ' split ', ' moves ', ' dropped ', ' joins '].some((w) => l.includes(w)))
      .slice(-30),
    ...atHeal,
  ].join('\n');
  return { problems, summary, rebased, kept };
}

/** The rule of before (the mutation): `x` is void if it loses a mutual reap to one of `others`. */
function pairwiseVoid(x: ReapState, others: Iterable<ReapState>): boolean {
  for (const y of others) if (isMutual(x, y) && compareSides(sideOf(y), sideOf(x)) < 0) return true;
  return false;
}
