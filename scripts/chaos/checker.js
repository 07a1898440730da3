// The checker: given the recorded history (ops with outcomes and (origin, seq), reads with
// their clocks, the network cuts) and the converged state, it verifies that no acknowledged op
// was lost or applied twice, that counters are exact, and each type's documented semantics
// (docs/semantics.md) wherever the recorded causality decides the answer, causal resets
// included: a counter delete or an or-map field remove (or map delete) drops exactly the deltas
// its source had seen, an aw-set clear the tags its source had seen, an rw-set clear every
// element (it wins over every add that did not see it).
//
// Two relations decide causality soundly:
// - couldObserve(b, a): b's event may have seen a's. False when b ended before a started
//   (b was prepared before a existed), or when a cut separated their agents for the whole
//   span from a's start to b's end (nothing crossed it).
// - observed(b, a): b's event certainly saw a's. True when a read at b's agent, done before b
//   started and after that agent's last store loss, returned a clock covering a's (origin, seq).
// An op that failed (4xx, connection refused) was certainly not applied and is ignored; an
// unknown one (in flight at a kill, a 5xx, a timeout, or acknowledged by a store that was then
// deleted before anyone had it) may or may not have been applied.
//
// Reaped members (docs/agent.md "Reaping", docs/semantics.md "Reaping"): an acknowledged op
// whose (origin, seq) lies beyond the agreed cut of its reaped epoch was refused everywhere and
// re-run by its member under a new epoch, as a new op with an (origin, seq) the history does not
// know, causally after the state the member held then. Such an op is *re-run*: it still counts
// exactly once (counters stay exact: the re-run delta is in the acknowledged sum, so a lost or a
// doubled re-run fails them), it is not looked for in the clocks, and its causality is widened
// soundly: it may have seen anything (its end is the time of its member's log line that ends
// the re-run, `rerunDone`, or unbounded when that is not known), it was certainly seen only by a
// later op of its own member that is re-run too (the batches re-run in their original order),
// and it certainly saw nothing (the state it was re-run against is a peer's). An unknown op at
// a reaped member may have been re-run as well: its end is widened the same way.
import { checkReads } from './checker-reads.js';
import { canonical } from './converge.js';

const acked = (o) => o.outcome === 'ok' && !o.lostWithStore;
const hasDot = (o) => o.outcome === 'ok' && typeof o.seq === 'number';

export class Checker {
  constructor({ history, cuts, agents, reaps = [] }) {
    this.reaps = reaps.filter((r) => typeof r.cut === 'number');
    // Copies: widening a re-run op's end must not change the recorded history.
    this.allOps = history.ops.map((o) => ({ ...o }));
    this.rerun = this.markReruns(agents);
    this.ops = this.allOps.filter((o) => o.outcome !== 'fail');
    /** Reads by agent, ordered by end time (one client per agent: they do not overlap). */
    this.readsByAgent = new Map();
    for (const r of [...history.reads].sort((x, y) => x.end - y.end)) {
      if (!this.readsByAgent.has(r.agent)) this.readsByAgent.set(r.agent, []);
      this.readsByAgent.get(r.agent).push(r);
    }
    this.cuts = cuts;
    this.agents = agents;
    this.failures = [];
    this.observedMemo = new Map();
    this.decided = { present: 0, absent: 0, exact: 0, lww: 0, removed: 0, survived: 0 };
  }

  /**
   * Marks acknowledged ops beyond a reap's cut as re-run; widens the ends of maybe-re-run ops:
   * to the time of the member's log line that ends its re-run (`rerunDone`: every re-run write
   * was made by then), or without bound when that is not known.
   */
  markReruns(agents) {
    let n = 0;
    /** Agent index -> the latest end of a re-run of its writes (Infinity: not known). */
    const reapedAgents = new Map();
    const reaped = (i, r) =>
      reapedAgents.set(i, Math.max(reapedAgents.get(i) ?? -Infinity, r.rerunDone ?? Infinity));
    for (const r of this.reaps) {
      const peer = r.epoch.split('~')[0];
      agents.forEach((a, i) => {
        if (a.peerId !== undefined && a.peerId === peer) reaped(i, r);
      });
      for (const o of this.allOps) {
        if (o.outcome === 'ok' && o.origin === r.epoch && o.seq > r.cut) {
          o.rerun = true;
          o.end = Math.max(o.end, r.rerunDone ?? Infinity);
          reaped(o.agent, r);
          n++;
        }
      }
    }
    for (const o of this.allOps) {
      if (o.outcome === 'unknown' && reapedAgents.has(o.agent))
        o.end = Math.max(o.end, reapedAgents.get(o.agent));
    }
    return n;
  }

  fail(msg) {
    if (this.failures.length < 200) this.failures.push(msg);
  }

  couldObserve(b, a) {
    if (b.end < a.start) return false;
    for (const c of this.cuts) {
      if (a.start >= c.start && b.end <= c.end && c.side[a.agent] !== c.side[b.agent]) return false;
    }
    return true;
  }

  observed(b, a) {
    // Every read of an object asks again about the same pairs (checker-reads.js): remember them.
    const key = b.id * 1_000_003 + a.id;
    let v = this.observedMemo.get(key);
    if (v === undefined) {
      v = this.observedOnce(b, a);
      this.observedMemo.set(key, v);
    }
    return v;
  }

  observedOnce(b, a) {
    if (!hasDot(a)) return false;
    // A re-run op saw only what its member's own earlier re-run ops had seen, and only those
    // saw it; anything else is undecided (false is the sound answer).
    if (b.rerun && !(a.rerun && a.agent === b.agent && a.seq < b.seq)) return false;
    if (a.rerun && !b.rerun) return false;
    const reads = this.readsByAgent.get(b.agent) ?? [];
    const losses = this.agents[b.agent].storeLosses;
    // The last reads that ended before b started: an agent's clock only grows between store
    // losses, so looking at the latest few (not all) only ever decides less.
    let hi = reads.length;
    let lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (reads[mid].end < b.start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && i >= lo - 20; i--) {
      const r = reads[i];
      if (
        losses.some((t) =>
          Array.isArray(t) ? t[0] <= b.start && t[1] >= r.start : t >= r.start && t <= b.start,
        )
      )
        return false;
      if ((r.clock[a.origin] ?? 0) >= a.seq) return true;
    }
    return false;
  }

  /** Runs every check against the converged state `values` ("type key" -> canonical JSON). */
  run(values, clocks) {
    this.checkDots(clocks);
    const byKey = new Map();
    for (const o of this.ops) {
      const k = `${o.type} ${o.key}`;
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push(o);
    }
    for (const [k, ops] of byKey) {
      const raw = values[k];
      this.checkObject(k, ops, raw === undefined ? undefined : JSON.parse(raw), acked, true);
    }
    checkReads(this, byKey);
    return { failures: this.failures, decided: this.decided, rerun: this.rerun };
  }

  /**
   * Checks one object's value against `ops`, the ops that may have been applied to it; `sure(o)`
   * says whether `o` certainly was. `all`: the value after every op (the converged state), where
   * registers and flags are checked too; otherwise a read, of a resettable type or a set.
   */
  checkObject(k, ops, value, sure, all) {
    const type = ops[0]?.type;
    if (type === 'pn-counter') {
      const deletes = ops.filter(isDelete);
      const effects = ops.filter((o) => !isDelete(o)).map((o) => [o, delta(o.op)]);
      this.resettable(k, value !== undefined, value ?? 0, effects, deletes, sure);
    } else if (type === 'or-map') {
      // A delete of the whole map resets every field (its context covers them all).
      const deletes = ops.filter(isDelete);
      for (const f of new Set(ops.filter((o) => !isDelete(o)).map((o) => o.op.field))) {
        const fops = ops.filter((o) => !isDelete(o) && o.op.field === f);
        this.resettable(
          `${k} field ${f}`,
          value !== undefined && value !== null && Object.hasOwn(value, f),
          value?.[f] ?? 0,
          fops.filter((o) => o.op.kind === 'update').map((o) => [o, o.op.op.by]),
          [...fops.filter((o) => o.op.kind === 'remove'), ...deletes],
          sure,
        );
      }
    } else if (type === 'aw-set' || type === 'rw-set')
      this.set(k, type, new Set((value ?? []).map(canonical)), ops, sure);
    else if (!all) return;
    else if (type === 'ew-flag') this.flag(k, value ?? false, ops);
    else if (type === 'lww-register')
      this.register(k, value === null || value === undefined ? [] : [value], ops, true);
    else if (type === 'mv-register') this.register(k, value ?? [], ops, false);
  }

  /** (origin, seq) pairs are never reused, and every acknowledged one is in every clock. */
  checkDots(clocks) {
    const seen = new Map();
    for (const o of this.allOps.filter(hasDot)) {
      const d = `${o.origin}#${o.seq}`;
      const prev = seen.get(d);
      if (prev)
        this.fail(
          `(origin, seq) reused: ${d} acknowledged for op ${prev.id} at a${prev.agent} and op ${o.id} at a${o.agent}`,
        );
      else seen.set(d, o);
    }
    let missing = 0;
    // Re-run ops carry a new (origin, seq) the history does not know; their old one is beyond
    // the cut everywhere by design. Counters check that they count exactly once.
    for (const o of this.allOps.filter((x) => acked(x) && !x.rerun)) {
      clocks.forEach((c, i) => {
        if ((c[o.origin] ?? 0) < o.seq) {
          if (missing++ < 10)
            this.fail(
              `acknowledged ${o.origin}#${o.seq} (op ${o.id}, ${o.type} ${o.key}) is beyond a${i}'s clock (${c[o.origin] ?? 0})`,
            );
        }
      });
    }
    if (missing > 10) this.fail(`... ${missing} acknowledged ops beyond some agent's clock in all`);
    // Nothing of a reaped epoch beyond its cut is applied anywhere, ever (docs/agent.md). An
    // epoch a rebase from another member's epoch abandoned (`rerunOnly`) is no reap: its events
    // beyond what was handed over were made before the rebase and may sit in clocks; its
    // client writes beyond that point were re-run (and still count exactly once).
    for (const r of this.reaps) {
      if (r.rerunOnly) continue;
      clocks.forEach((c, i) => {
        if ((c[r.epoch] ?? 0) > r.cut)
          this.fail(
            `a${i}'s clock holds reaped epoch ${r.epoch} up to ${c[r.epoch]}, beyond its agreed cut ${r.cut}`,
          );
      });
    }
  }

  /**
   * A counter (an object, or an or-map field) under causal resets (docs/semantics.md: a delete
   * or a field remove drops exactly the deltas its source had seen; a concurrent one survives).
   * Each delta is *removed* when an acknowledged reset certainly saw it, *survives* when it is
   * acknowledged and no reset could have seen it, and is undecided otherwise (as is an unknown
   * one). The value is the sum of the surviving deltas plus the sum of some subset of the
   * undecided ones. Presence follows: the counter exists when a delta survives, and is gone
   * when every delta was removed.
   */
  resettable(what, present, value, effects, resets, sure = acked) {
    let base = 0;
    const undecided = [];
    let survives = false;
    let removed = 0;
    for (const [o, d] of effects) {
      if (resets.some((r) => sure(r) && this.observed(r, o))) {
        removed++;
        continue;
      }
      if (sure(o) && resets.every((r) => !this.couldObserve(r, o))) {
        base += d;
        survives = true;
      } else undecided.push(d);
    }
    this.decided.removed += removed;
    if (resets.length > 0) this.decided.survived += effects.length - removed - undecided.length;
    if (effects.length > 0 && (survives || removed === effects.length)) {
      this.decided[survives ? 'present' : 'absent']++;
      if (present !== survives)
        this.fail(
          `${what} is ${present ? 'present' : 'absent'}, but the history says it must be ${survives ? 'present (an acknowledged delta no reset could have seen survives)' : 'absent (an acknowledged reset saw every delta)'} (${effects.length} deltas, ${resets.length} resets)`,
        );
    }
    this.exact(what, value, base, undecided, resets.length);
  }

  /** The value is `base` plus the sum of some subset of the undecided deltas. */
  exact(what, value, base, unknown, resets = 0) {
    if (typeof value !== 'number') return this.fail(`${what}: not a number: ${JSON.stringify(value)}`);
    let sums = new Set([0]);
    for (const d of unknown) {
      const next = new Set(sums);
      for (const s of sums) next.add(s + d);
      sums = next;
      if (sums.size > 100_000) return; // undecidable within bounds; the clocks check still ran
    }
    this.decided.exact++;
    if (!sums.has(value - base)) {
      const lo = base + unknown.filter((d) => d < 0).reduce((a, b) => a + b, 0);
      const hi = base + unknown.filter((d) => d > 0).reduce((a, b) => a + b, 0);
      const why =
        resets === 0
          ? 'the acknowledged ops sum to'
          : `of ${resets} resets, the acknowledged deltas no reset could have seen sum to`;
      this.fail(
        `${what} = ${value}, but ${why} ${base} and the ${unknown.length} undecided ones allow only values in [${lo}, ${hi}] that are a subset sum (lost or doubled ops, or a reset that removed what it had not seen or kept what it had)`,
      );
    }
  }

  set(k, type, present, ops, sure = acked) {
    const elem = (o) => (o.elem ??= canonical(o.op.value));
    const elements = new Set(ops.filter((o) => o.op.kind !== 'clear').map(elem));
    for (const p of present) elements.add(p);
    // A clear removes every element (aw-set: the tags its source had seen; rw-set: every
    // element, seen or not): for each element it acts as a remove of that element.
    const clears = ops.filter((o) => o.op.kind === 'clear');
    for (const x of elements) {
      const adds = ops.filter((o) => o.op.kind === 'add' && elem(o) === x);
      const removes = [...ops.filter((o) => o.op.kind === 'remove' && elem(o) === x), ...clears];
      let mustBe;
      if (adds.length === 0) mustBe = false;
      else if (type === 'aw-set') {
        // Add wins: an acknowledged add no remove could have seen survives; the element is gone
        // when every add was seen by an acknowledged remove.
        if (adds.some((a) => sure(a) && removes.every((r) => !this.couldObserve(r, a)))) mustBe = true;
        else if (adds.every((a) => removes.some((r) => sure(r) && this.observed(r, a)))) mustBe = false;
      } else {
        // Remove wins: an acknowledged remove no add could have seen keeps the element out; an
        // add that saw every remove brings it back.
        if (removes.some((r) => sure(r) && adds.every((a) => !this.couldObserve(a, r)))) mustBe = false;
        else if (adds.some((a) => sure(a) && removes.every((r) => sure(r) && this.observed(a, r))))
          mustBe = true;
      }
      if (mustBe === undefined) continue;
      this.decided[mustBe ? 'present' : 'absent']++;
      if (present.has(x) !== mustBe)
        this.fail(
          `${k}: ${x} is ${present.has(x) ? 'present' : 'absent'}, but the history says it must be ${mustBe ? 'present' : 'absent'} (${adds.length} adds, ${removes.length - clears.length} removes, ${clears.length} clears; ${type})`,
        );
    }
  }

  flag(k, value, ops) {
    const enables = ops.filter((o) => o.op.kind === 'enable');
    const disables = ops.filter((o) => o.op.kind === 'disable');
    let mustBe;
    if (enables.length === 0) mustBe = false;
    else if (enables.some((e) => acked(e) && disables.every((d) => !this.couldObserve(d, e)))) mustBe = true;
    else if (enables.every((e) => disables.some((d) => acked(d) && this.observed(d, e)))) mustBe = false;
    if (mustBe === undefined) return;
    this.decided[mustBe ? 'present' : 'absent']++;
    if (value !== mustBe)
      this.fail(`${k}: the flag is ${value}, but the history says it must be ${mustBe} (enable wins)`);
  }

  /** Registers: only written values, never an overwritten one; unseen writes survive (mv). */
  register(k, siblings, ops, lww) {
    const byValue = new Map(ops.map((o) => [canonical(o.op.value), o]));
    const sib = siblings.map(canonical);
    for (const v of sib) {
      const w = byValue.get(v);
      if (!w) {
        this.fail(`${k}: holds ${v}, which no client wrote`);
        continue;
      }
      const over = ops.find((o) => o !== w && acked(o) && this.observed(o, w));
      if (over)
        this.fail(
          `${k}: holds ${v} (op ${w.id}), which op ${over.id} at a${over.agent} had seen and overwritten`,
        );
    }
    if (ops.some(acked) && sib.length === 0) this.fail(`${k}: empty, but acknowledged writes exist`);
    if (!lww) {
      for (const s of ops.filter(acked)) {
        if (ops.every((o) => o === s || !this.couldObserve(o, s))) {
          this.decided.present++;
          if (!sib.includes(canonical(s.op.value)))
            this.fail(
              `${k}: lacks ${canonical(s.op.value)} (op ${s.id}), a write no other write could have seen`,
            );
        }
      }
      return;
    }
    // LWW on one host clock: a write that started more than 5 ms after every other write ended
    // has the greatest HLC, and nothing overwrote it.
    const last = ops.filter(acked).find((s) => ops.every((o) => o === s || o.end + 5 < s.start));
    if (last) {
      this.decided.lww++;
      if (sib[0] !== canonical(last.op.value))
        this.fail(
          `${k}: reads ${sib[0]}, but the last write (op ${last.id}, strictly after all others) set ${canonical(last.op.value)}`,
        );
    }
  }
}

function isDelete(o) {
  return o.op.kind === 'delete';
}

function delta(op) {
  return op.kind === 'decrement' ? -op.by : op.by;
}
