// The nemesis test's checker (scripts/chaos/checker.js) on small hand-made histories: it passes
// a correct one and catches a lost op, a doubled op, a reused (origin, seq), and a remove-wins or
// add-wins outcome that the recorded causality rules out.
import { describe, expect, it } from 'vitest';
import { Checker, type ChaosCut, type ChaosOp, type ChaosRead } from '../../scripts/chaos/checker.js';

let id = 0;
function op(
  agent: number,
  type: string,
  key: string,
  o: Record<string, unknown>,
  start: number,
  extra: Partial<ChaosOp> = {},
): ChaosOp {
  const seq = ++id;
  return {
    id: seq,
    agent,
    type,
    key,
    op: o,
    start,
    end: start + 2,
    outcome: 'ok',
    origin: `p${agent}`,
    seq,
    ...extra,
  };
}

function check(
  ops: ChaosOp[],
  values: Record<string, unknown>,
  opts: {
    reads?: ChaosRead[];
    cuts?: ChaosCut[];
    reaps?: { epoch: string; cut: number; rerunDone?: number }[];
  } = {},
) {
  const clock: Record<string, number> = {};
  for (const o of ops) if (o.origin && o.seq) clock[o.origin] = Math.max(clock[o.origin] ?? 0, o.seq);
  // A reaped epoch's events beyond its cut are applied nowhere.
  for (const r of opts.reaps ?? []) clock[r.epoch] = Math.min(clock[r.epoch] ?? 0, r.cut);
  const v = Object.fromEntries(Object.entries(values).map(([k, x]) => [k, JSON.stringify(x)]));
  const agents = [0, 1, 2].map(() => ({ storeLosses: [] }));
  return new Checker({
    history: { ops, reads: opts.reads ?? [] },
    cuts: opts.cuts ?? [],
    agents,
    reaps: opts.reaps ?? [],
  }).run(v, [clock, clock]);
}

const inc = (by: number) => ({ kind: 'increment', by });

describe('chaos checker', () => {
  it('accepts a correct history, with an unknown increment applied or not', () => {
    const ops = [
      op(0, 'pn-counter', 'c', inc(2), 10),
      op(1, 'pn-counter', 'c', inc(3), 20),
      op(2, 'pn-counter', 'c', inc(5), 30, {
        outcome: 'unknown',
        origin: undefined,
        seq: undefined,
        end: 40,
      }),
    ];
    expect(check(ops, { 'pn-counter c': 5 }).failures).toEqual([]);
    expect(check(ops, { 'pn-counter c': 10 }).failures).toEqual([]);
  });

  it('catches a lost and a doubled increment', () => {
    const ops = [op(0, 'pn-counter', 'c', inc(2), 10), op(1, 'pn-counter', 'c', inc(3), 20)];
    expect(check(ops, { 'pn-counter c': 3 }).failures.join()).toMatch(/acknowledged ops sum to 5/);
    expect(check(ops, { 'pn-counter c': 7 }).failures.join()).toMatch(/lost or doubled/);
  });

  it('catches a reused (origin, seq) and an acknowledged op beyond a clock', () => {
    const a = op(0, 'pn-counter', 'c', inc(1), 10);
    const b = op(0, 'pn-counter', 'c', inc(1), 20, { seq: a.seq });
    expect(check([a, b], { 'pn-counter c': 2 }).failures.join()).toMatch(/reused/);
    const v = { 'pn-counter c': 1 };
    const r = new Checker({ history: { ops: [a], reads: [] }, cuts: [], agents: [{ storeLosses: [] }] }).run(
      Object.fromEntries(Object.entries(v).map(([k, x]) => [k, JSON.stringify(x)])),
      [{}],
    );
    expect(r.failures.join()).toMatch(/beyond a0's clock/);
  });

  it('rw-set: a remove no add could have seen keeps the element out (the issue 7 scenario)', () => {
    const add1 = op(0, 'rw-set', 's', { kind: 'add', value: 'x' }, 10);
    const remove = op(0, 'rw-set', 's', { kind: 'remove', value: 'x' }, 200);
    const add2 = op(2, 'rw-set', 's', { kind: 'add', value: 'x' }, 210); // cut off from a0
    const cuts = [{ start: 100, end: 400, side: { 0: 'br0', 1: 'br0', 2: 'alone2' } }];
    expect(check([add1, remove, add2], { 'rw-set s': ['x'] }, { cuts }).failures.join()).toMatch(
      /must be absent/,
    );
    expect(check([add1, remove, add2], { 'rw-set s': [] }, { cuts }).failures).toEqual([]);
    // Without the cut, the second add may have seen the remove: undecided, nothing to flag.
    expect(check([add1, remove, add2], { 'rw-set s': ['x'] }).failures).toEqual([]);
  });

  it('aw-set: an add no remove could have seen survives; an add seen by a remove is gone', () => {
    const add = op(0, 'aw-set', 's', { kind: 'add', value: 'x' }, 10);
    const early = op(1, 'aw-set', 's', { kind: 'remove', value: 'x' }, 1);
    expect(check([early, add], { 'aw-set s': [] }).failures.join()).toMatch(/must be present/);
    const read: ChaosRead = {
      agent: 1,
      type: 'aw-set',
      key: 's',
      start: 20,
      end: 21,
      clock: { p0: add.seq! },
      value: ['x'],
    };
    const remove = op(1, 'aw-set', 's', { kind: 'remove', value: 'x' }, 30);
    expect(check([add, remove], { 'aw-set s': ['x'] }, { reads: [read] }).failures.join()).toMatch(
      /must be absent/,
    );
    expect(check([add, remove], { 'aw-set s': [] }, { reads: [read] }).failures).toEqual([]);
  });

  describe('a reaped member re-runs its writes beyond the cut (docs/semantics.md "Reaping")', () => {
    // a0's epoch p0 was reaped at the cut: its ops up to the cut stay, the later ones were re-run.
    const before = () => op(0, 'pn-counter', 'c', inc(2), 10);
    const reapAt = (o: ChaosOp) => [{ epoch: 'p0', cut: o.seq! }];

    it('counts a re-run increment exactly once: not lost, not doubled', () => {
      const a = before();
      const b = op(0, 'pn-counter', 'c', inc(3), 20); // beyond the cut: re-run under a new epoch
      const c = op(1, 'pn-counter', 'c', inc(5), 30);
      const reaps = reapAt(a);
      const ok = check([a, b, c], { 'pn-counter c': 10 }, { reaps });
      expect(ok.failures).toEqual([]);
      expect(ok.rerun).toBe(1);
      expect(check([a, b, c], { 'pn-counter c': 7 }, { reaps }).failures.join()).toMatch(/lost or doubled/);
      expect(check([a, b, c], { 'pn-counter c': 13 }, { reaps }).failures.join()).toMatch(/lost or doubled/);
      // Without the reap, b's (origin, seq) beyond every clock is a lost op.
      const clock = { p0: a.seq!, p1: c.seq! };
      const r = new Checker({
        history: { ops: [a, b, c], reads: [] },
        cuts: [],
        agents: [{ storeLosses: [] }],
      }).run({ 'pn-counter c': '10' }, [clock]);
      expect(r.failures.join()).toMatch(/beyond a0's clock/);
    });

    it('catches a replica that applied the reaped epoch beyond its cut', () => {
      const a = before();
      const b = op(0, 'pn-counter', 'c', inc(3), 20);
      const clock = { p0: b.seq! };
      const r = new Checker({
        history: { ops: [a, b], reads: [] },
        cuts: [],
        agents: [{ storeLosses: [] }],
        reaps: reapAt(a),
      }).run({ 'pn-counter c': '5' }, [clock]);
      expect(r.failures.join()).toMatch(/beyond its agreed cut/);
    });

    it('an epoch a foreign rebase abandoned: its writes beyond what it handed over were re-run', () => {
      // a0 wrote a and b under p0, then rebased from another member's epoch, handing p0 over up
      // to a only (seed 34): b was re-run under a new epoch, and clocks may hold p0 beyond a.
      const a = before();
      const b = op(0, 'pn-counter', 'c', inc(3), 20);
      const clock = { p0: a.seq! };
      const run = (reaps: { epoch: string; cut: number; rerunOnly?: boolean }[], value: number) =>
        new Checker({
          history: { ops: [a, b], reads: [] },
          cuts: [],
          agents: [{ storeLosses: [] }],
          reaps,
        }).run({ 'pn-counter c': String(value) }, [clock, { p0: b.seq! }]);
      const abandoned = [{ epoch: 'p0', cut: a.seq!, rerunOnly: true }];
      expect(run(abandoned, 5).failures).toEqual([]);
      expect(run(abandoned, 2).failures.join()).toMatch(/lost or doubled/); // the re-run lost
      expect(run([], 5).failures.join()).toMatch(/beyond a0's clock/); // as it failed before
      expect(run([{ epoch: 'p0', cut: a.seq! }], 5).failures.join()).toMatch(/beyond its agreed cut/);
    });

    it('a re-run remove is causally later: it may remove an add it never saw the first time', () => {
      const a = before();
      const remove = op(0, 'aw-set', 's', { kind: 'remove', value: 'x' }, 20); // re-run later
      const add = op(1, 'aw-set', 's', { kind: 'add', value: 'x' }, 30); // the remove could not see it
      // Without the reap, add wins: x must be present.
      expect(check([a, remove, add], { 'aw-set s': [], 'pn-counter c': 2 }).failures.join()).toMatch(
        /must be present/,
      );
      // With it, the re-run remove may have seen the add: absent is allowed, and so is present.
      const reaps = reapAt(a);
      expect(check([a, remove, add], { 'aw-set s': [], 'pn-counter c': 2 }, { reaps }).failures).toEqual([]);
      expect(check([a, remove, add], { 'aw-set s': ['x'], 'pn-counter c': 2 }, { reaps }).failures).toEqual(
        [],
      );
    });

    it('a re-run delete saw nothing written after its re-run ended (rerunDone)', () => {
      const a = before();
      const d = op(0, 'pn-counter', 'c', { kind: 'delete' }, 20); // beyond the cut: re-run
      const later = op(1, 'pn-counter', 'c', inc(4), 500); // after the re-run ended at 400
      const ops = [a, d, later];
      // Unbounded, the re-run delete may have removed the +4: gone passes.
      expect(check(ops, {}, { reaps: reapAt(a) }).failures).toEqual([]);
      const reaps = [{ ...reapAt(a)[0]!, rerunDone: 400 }];
      expect(check(ops, { 'pn-counter c': 4 }, { reaps }).failures).toEqual([]);
      expect(check(ops, {}, { reaps }).failures.join()).toMatch(/must be present/);
    });

    it('a write after the rebase did not see what a read before it saw (the rebase window)', () => {
      const add = op(1, 'aw-set', 's', { kind: 'add', value: 'x' }, 10);
      const read: ChaosRead = {
        agent: 0,
        type: 'aw-set',
        key: 's',
        start: 20,
        end: 21,
        clock: { p1: add.seq! },
        value: ['x'],
      };
      const remove = op(0, 'aw-set', 's', { kind: 'remove', value: 'x' }, 50);
      const v = Object.fromEntries(
        Object.entries({ 'aw-set s': ['x'] }).map(([k, x]) => [k, JSON.stringify(x)]),
      );
      const clock = { p0: remove.seq!, p1: add.seq! };
      const run = (losses: (number | [number, number])[]) =>
        new Checker({
          history: { ops: [add, remove], reads: [read] },
          cuts: [],
          agents: [{ storeLosses: losses }, { storeLosses: [] }],
        }).run(v, [clock]).failures;
      expect(run([]).join()).toMatch(/must be absent/);
      expect(run([[15, 60]])).toEqual([]);
    });
  });
});

describe('chaos checker: causal resets and clears (docs/semantics.md)', () => {
  // A read at `agent` of the value `value`, whose clock covers `seen` (and nothing else).
  const read = (agent: number, key: string, at: number, value: unknown, ...seen: ChaosOp[]): ChaosRead => {
    const clock: Record<string, number> = {};
    for (const o of seen) clock[o.origin!] = Math.max(clock[o.origin!] ?? 0, o.seq!);
    return { agent, type: seen[0]!.type, key, start: at, end: at + 1, clock, value };
  };
  // a2 is cut off from a0 and a1 from 100 to 400.
  const cuts = [{ start: 100, end: 400, side: { 0: 'br0', 1: 'br0', 2: 'alone2' } }];
  const del = { kind: 'delete' };

  it('pn-counter: C, cut off, deletes a counter it saw at +5 while A adds +3: 3 (the issue 7 case)', () => {
    const five = op(0, 'pn-counter', 'c', inc(5), 10);
    const seen = read(2, 'c', 50, 5, five);
    const d = op(2, 'pn-counter', 'c', del, 200);
    const three = op(0, 'pn-counter', 'c', inc(3), 210);
    const h = [five, d, three];
    const ok = check(h, { 'pn-counter c': 3 }, { reads: [seen], cuts });
    expect(ok.failures).toEqual([]);
    expect(ok.decided.removed).toBe(1);
    expect(ok.decided.survived).toBe(1);
    // The delete lost its effect (8), or removed the increment it could not have seen (absent).
    expect(check(h, { 'pn-counter c': 8 }, { reads: [seen], cuts }).failures.join()).toMatch(
      /surviv|no reset could have seen sum to 3/,
    );
    expect(check(h, { 'pn-counter c': 5 }, { reads: [seen], cuts }).failures.join()).toMatch(/sum to 3/);
    expect(check(h, {}, { reads: [seen], cuts }).failures.join()).toMatch(/must be present/);
    // Without the read, the delete may or may not have seen the +5: 3 and 8 both pass.
    expect(check(h, { 'pn-counter c': 8 }, { cuts }).failures).toEqual([]);
    expect(check(h, { 'pn-counter c': 3 }, { cuts }).failures).toEqual([]);
    // Without the cut, a +3 that started before the delete ended may have been seen by it:
    // gone passes too.
    const early = op(0, 'pn-counter', 'c', inc(3), 195);
    expect(check([five, d, early], {}, { reads: [seen] }).failures).toEqual([]);
    expect(check([five, d, early], { 'pn-counter c': 3 }, { reads: [seen] }).failures).toEqual([]);
  });

  it('checks each read against the ops its clock covers, where a later delete hides the outcome', () => {
    const five = op(0, 'pn-counter', 'c', inc(5), 10);
    const seen = read(2, 'c', 50, 5, five);
    const d = op(2, 'pn-counter', 'c', del, 200);
    const three = op(0, 'pn-counter', 'c', inc(3), 210);
    // After the heal, a0 reads the counter, then deletes it, having seen everything.
    const d2 = op(0, 'pn-counter', 'c', del, 510);
    const at = (v: number) => read(0, 'c', 500, v, five, d, three);
    const h = [five, d, three, d2];
    const ok = check(h, {}, { reads: [seen, at(3)], cuts });
    expect(ok.failures).toEqual([]);
    expect(ok.decided.reads).toBe(2);
    // 8 at a0 after the heal: the delete lost its effect there (the compaction bug).
    const bad = check(h, {}, { reads: [seen, at(8)], cuts });
    expect(bad.failures.join()).toMatch(/pn-counter c \(read at a0 at .*\) = 8, .* sum to 3/);
    // A read whose clock does not cover the delete may show 8.
    const before = read(0, 'c', 300, 8, five, three);
    expect(check(h, {}, { reads: [seen, before, at(3)], cuts }).failures).toEqual([]);
    // rw-set: a read in which an add concurrent with a remove shows the element present.
    const x = op(0, 'rw-set', 's', { kind: 'add', value: 'x' }, 10);
    const rm = op(0, 'rw-set', 's', { kind: 'remove', value: 'x' }, 200);
    const x2 = op(2, 'rw-set', 's', { kind: 'add', value: 'x' }, 210);
    const after = (v: string[]) => read(1, 's', 500, v, x, rm, x2);
    expect(check([x, rm, x2], { 'rw-set s': [] }, { reads: [after([])], cuts }).failures).toEqual([]);
    expect(check([x, rm, x2], { 'rw-set s': [] }, { reads: [after(['x'])], cuts }).failures.join()).toMatch(
      /rw-set s \(read at a1 .*\): "x" is present, but the history says it must be absent/,
    );
  });

  it('pn-counter: a delete that saw every delta leaves the counter gone', () => {
    const a = op(0, 'pn-counter', 'c', inc(2), 10);
    const b = op(1, 'pn-counter', 'c', { kind: 'decrement', by: 1 }, 20);
    const seen = read(1, 'c', 30, 1, a, b);
    const d = op(1, 'pn-counter', 'c', del, 40);
    expect(check([a, b, d], {}, { reads: [seen] }).failures).toEqual([]);
    expect(check([a, b, d], { 'pn-counter c': 0 }, { reads: [seen] }).failures.join()).toMatch(
      /present, but the history says it must be absent/,
    );
    expect(check([a, b, d], { 'pn-counter c': 1 }, { reads: [seen] }).failures.join()).toMatch(
      /must be absent/,
    );
    // An increment after the delete ended starts the counter afresh.
    const c = op(2, 'pn-counter', 'c', inc(4), 50);
    expect(check([a, b, d, c], { 'pn-counter c': 4 }, { reads: [seen] }).failures).toEqual([]);
    expect(check([a, b, d, c], { 'pn-counter c': 5 }, { reads: [seen] }).failures.join()).toMatch(/sum to 4/);
  });

  it('or-map: a field remove resets its field only; a map delete resets every field', () => {
    const upd = (agent: number, field: string, by: number, at: number) =>
      op(agent, 'or-map', 'm', { kind: 'update', field, type: 'pn-counter', op: inc(by) }, at);
    const f1 = upd(0, 'f', 2, 10);
    const g1 = upd(0, 'g', 7, 12);
    const seen = read(2, 'm', 50, { f: 2, g: 7 }, f1, g1);
    const rm = op(2, 'or-map', 'm', { kind: 'remove', field: 'f', type: 'pn-counter' }, 200);
    const f2 = upd(1, 'f', 3, 210); // concurrent with the remove: survives it
    const h = [f1, g1, rm, f2];
    expect(check(h, { 'or-map m': { f: 3, g: 7 } }, { reads: [seen], cuts }).failures).toEqual([]);
    expect(check(h, { 'or-map m': { f: 5, g: 7 } }, { reads: [seen], cuts }).failures.join()).toMatch(
      /field f = 5/,
    );
    expect(check(h, { 'or-map m': { g: 7 } }, { reads: [seen], cuts }).failures.join()).toMatch(
      /field f is absent, but the history says it must be present/,
    );
    // A delete of the map that saw f1 and g1, concurrent with f2: only f2 is left.
    const d = op(2, 'or-map', 'm', del, 200);
    const h2 = [f1, g1, d, f2];
    expect(check(h2, { 'or-map m': { f: 3 } }, { reads: [seen], cuts }).failures).toEqual([]);
    expect(check(h2, { 'or-map m': { f: 3, g: 7 } }, { reads: [seen], cuts }).failures.join()).toMatch(
      /field g is present, but the history says it must be absent/,
    );
  });

  it('aw-set: a clear removes what it saw; an add it could not see survives (add wins)', () => {
    const x = op(0, 'aw-set', 's', { kind: 'add', value: 'x' }, 10);
    const seen = read(2, 's', 50, ['x'], x);
    const clear = op(2, 'aw-set', 's', { kind: 'clear' }, 200);
    const y = op(0, 'aw-set', 's', { kind: 'add', value: 'y' }, 210); // cut off from the clear
    const h = [x, clear, y];
    const ok = check(h, { 'aw-set s': ['y'] }, { reads: [seen], cuts });
    expect(ok.failures).toEqual([]);
    expect(ok.decided.absent).toBe(1);
    expect(check(h, { 'aw-set s': ['x', 'y'] }, { reads: [seen], cuts }).failures.join()).toMatch(
      /"x" is present, but the history says it must be absent/,
    );
    expect(check(h, { 'aw-set s': [] }, { reads: [seen], cuts }).failures.join()).toMatch(
      /"y" is absent, but the history says it must be present/,
    );
  });

  it('rw-set: a clear beats every add that did not see it, of an element it saw or not', () => {
    const x = op(0, 'rw-set', 's', { kind: 'add', value: 'x' }, 10);
    const clear = op(2, 'rw-set', 's', { kind: 'clear' }, 200);
    const y = op(0, 'rw-set', 's', { kind: 'add', value: 'y' }, 210); // cut off from the clear
    expect(check([x, clear, y], { 'rw-set s': [] }, { cuts }).failures).toEqual([]);
    expect(check([x, clear, y], { 'rw-set s': ['y'] }, { cuts }).failures.join()).toMatch(
      /"y" is present, but the history says it must be absent/,
    );
    expect(check([x, clear, y], { 'rw-set s': ['x'] }, { cuts }).failures.join()).toMatch(
      /"x" is present, but the history says it must be absent/,
    );
    // An add that saw the clear brings its element back.
    const seen = read(1, 's', 500, [], x, clear);
    const again = op(1, 'rw-set', 's', { kind: 'add', value: 'x' }, 510);
    const h = [x, clear, y, again];
    expect(check(h, { 'rw-set s': ['x'] }, { cuts, reads: [seen] }).failures).toEqual([]);
    expect(check(h, { 'rw-set s': [] }, { cuts, reads: [seen] }).failures.join()).toMatch(
      /"x" is absent, but the history says it must be present/,
    );
  });
});
