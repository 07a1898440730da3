// The checker's rules applied to the reads the clients made during the faults, not only to the
// converged state. A read returns the object's value with the agent's clock, and that value is
// the effect of exactly the events the clock covers (docs/api.md "Read one"): so each read of a
// counter, an or-map or a set is checked like a final state over the ops its clock covers.
// The final state alone shows only what the last resets left: a concurrent increment that a
// delete wrongly removed, then a later delete saw, leaves no trace there; a read between the
// two shows it (the issue 7 case "C deletes a counter it saw at +5 while A adds +3", read at A
// after the heal).
//
// Which ops a read's clock covers: an acknowledged op (or one whose store was lost) by its
// (origin, seq); an op whose origin the clock does not name may be of an epoch the clock leaves
// out because it was retired (docs/api.md), so it counts as "maybe", like an unknown op and a
// re-run one (its new (origin, seq) is not known).

const CHECKED = new Set(['pn-counter', 'or-map', 'aw-set', 'rw-set']);

/** 'yes' | 'no' | 'maybe': whether the state a read returned includes `o`. */
function coveredBy(clock) {
  return (o) => {
    if (o.rerun || o.outcome !== 'ok' || typeof o.seq !== 'number') return 'maybe';
    const s = clock[o.origin];
    if (s === undefined) return 'maybe';
    return s >= o.seq ? 'yes' : 'no';
  };
}

/**
 * Checks every recorded read of a resettable type or a set against the ops its clock covers.
 * Adds `reads` (reads checked) and `readDecisions` (decisions made on them) to `decided`.
 * @param {import('./checker.js').Checker} checker
 * @param {Map<string, object[]>} byKey the possibly applied ops, by "type key"
 */
export function checkReads(checker, byKey) {
  const final = checker.decided;
  const inReads = { present: 0, absent: 0, exact: 0, lww: 0, removed: 0, survived: 0 };
  checker.decided = inReads;
  let reads = 0;
  try {
    for (const list of checker.readsByAgent.values()) {
      for (const r of list) {
        if (!CHECKED.has(r.type)) continue;
        const k = `${r.type} ${r.key}`;
        const ops = byKey.get(k);
        if (!ops) continue;
        const covered = coveredBy(r.clock);
        const mayHave = ops.filter((o) => covered(o) !== 'no');
        if (mayHave.length === 0) continue;
        reads++;
        const at = new Date(r.end).toISOString().slice(11, 23);
        checker.checkObject(
          `${k} (read at a${r.agent} at ${at})`,
          mayHave,
          r.value,
          (o) => covered(o) === 'yes',
          false,
        );
      }
    }
  } finally {
    checker.decided = final;
  }
  final.reads = reads;
  final.readDecisions = inReads.present + inReads.absent + inReads.exact + inReads.removed;
}
