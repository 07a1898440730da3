import { describe, expect, it } from 'vitest';
import { Replica, type Effect } from '../../src/core/replica.js';
import { vcToRecord } from '../../src/core/clock/vector-clock.js';
import { SmacError } from '../../src/core/errors.js';
import type { Event } from '../../src/core/event.js';

const NOW = 1_700_000_000_000;

function write(r: Replica, ops: unknown[], now = NOW): Event {
  const { event } = r.step({ kind: 'local', ops }, now);
  if (!event) throw new Error('no event');
  return event;
}

function receive(r: Replica, e: Event, now = NOW): Effect[] {
  return r.step({ kind: 'remote', event: e, bytes: 100 }, now).effects;
}

const inc = (key: string, by = 1) => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });

describe('Replica: local writes', () => {
  it('turns a batch into one event with consecutive seqs and ordered effects', () => {
    const r = new Replica({ id: 'a' });
    const { event, effects } = r.step({ kind: 'local', ops: [inc('c'), inc('c', 2)] }, NOW);
    expect(event?.seq).toBe(1);
    expect(event?.ops).toHaveLength(2);
    expect(effects.map((e) => e.kind)).toEqual(['persist', 'broadcast', 'changed']);
    expect(r.read('pn-counter', 'c')?.value).toBe(3);
    expect(write(r, [inc('c')]).seq).toBe(2);
    expect(vcToRecord(r.clock())).toEqual({ a: 2 });
  });

  it('applies a batch whole or not at all', () => {
    const r = new Replica({ id: 'a' });
    write(r, [inc('c')]);
    const before = r.snapshot();
    expect(() =>
      r.step(
        {
          kind: 'local',
          ops: [inc('c'), { type: 'pn-counter', key: 'c', op: { kind: 'increment', by: -1 } }],
        },
        NOW,
      ),
    ).toThrow(SmacError);
    expect(r.snapshot()).toEqual(before);
    expect(write(r, [inc('c')]).seq).toBe(2); // no seq was consumed by the failed batch
  });

  it.each([
    [[], 'INVALID_OP'],
    [[{ type: 'no-such-type', key: 'k', op: {} }], 'UNKNOWN_TYPE'],
    [[{ type: 'pn-counter', key: '', op: { kind: 'increment' } }], 'INVALID_KEY'],
    [[{ type: 'pn-counter', key: 'a//b', op: { kind: 'increment' } }], 'INVALID_KEY'],
    [[{ type: 'pn-counter', key: 'x'.repeat(513), op: { kind: 'increment' } }], 'INVALID_KEY'],
    [[{ type: 'pn-counter', key: '_sys/members', op: { kind: 'increment' } }], 'RESERVED_KEY'],
    [[{ type: 'lww-register', key: 'k', op: { kind: 'set', value: 'x'.repeat(70_000) } }], 'TOO_LARGE'],
    [['not an op'], 'INVALID_OP'],
  ])('rejects %j with %s and changes nothing', (ops, code) => {
    const r = new Replica({ id: 'a' });
    let err: unknown;
    try {
      r.step({ kind: 'local', ops }, NOW);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SmacError);
    expect((err as SmacError).code).toBe(code);
    expect(r.list()).toEqual([]);
    expect(vcToRecord(r.clock())).toEqual({});
  });

  it('lets the agent itself write under _sys/', () => {
    const r = new Replica({ id: 'a' });
    r.step({ kind: 'local', ops: [inc('_sys/load/x')], system: true }, NOW);
    expect(r.read('pn-counter', '_sys/load/x')?.value).toBe(1);
  });

  it('bounds the batch size', () => {
    const r = new Replica({ id: 'a', limits: { maxOpsPerEvent: 2 } });
    expect(() => r.step({ kind: 'local', ops: [inc('a'), inc('b'), inc('c')] }, NOW)).toThrow(/at most 2/);
  });

  it('delta-encodes dependencies: only clock entries that grew since our previous event', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const c = new Replica({ id: 'c' });
    receive(a, write(b, [inc('x')]));
    receive(a, write(c, [inc('x')]));
    expect(vcToRecord(write(a, [inc('x')]).deps)).toEqual({ b: 1, c: 1 });
    expect(vcToRecord(write(a, [inc('x')]).deps)).toEqual({});
    receive(a, write(b, [inc('x')]));
    expect(vcToRecord(write(a, [inc('x')]).deps)).toEqual({ b: 2 });
  });
});

describe('Replica: remote events', () => {
  it('holds an event until its dependencies arrive, then applies both in causal order', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const c = new Replica({ id: 'c' });
    const e1 = write(a, [{ type: 'lww-register', key: 'k', op: { kind: 'set', value: 1 } }]);
    receive(b, e1);
    const e2 = write(b, [{ type: 'lww-register', key: 'k', op: { kind: 'set', value: 2 } }]);
    expect(receive(c, e2)).toEqual([]);
    expect(c.stats().buffered).toBe(1);
    expect(c.gaps()).toEqual([{ origin: 'a', from: 1, to: 1 }]);
    const fx = receive(c, e1);
    expect(fx.filter((f) => f.kind === 'persist').map((f) => (f as { event: Event }).event.origin)).toEqual([
      'a',
      'b',
    ]);
    expect(c.read('lww-register', 'k')?.value).toBe(2);
    expect(c.stats().buffered).toBe(0);
  });

  it('drops duplicates: every event is applied exactly once', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const e = write(a, [inc('c', 5)]);
    receive(b, e);
    expect(receive(b, e)).toEqual([]);
    expect(b.read('pn-counter', 'c')?.value).toBe(5);
    expect(b.stats().duplicates).toBe(1);
  });

  it('asks for repair when a gap outlives the threshold, not before', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', repairAfterMs: 1000 });
    write(a, [inc('c')]);
    receive(b, write(a, [inc('c')]), NOW);
    expect(b.step({ kind: 'tick' }, NOW + 500).effects).toEqual([]);
    expect(b.step({ kind: 'tick' }, NOW + 1500).effects).toEqual([
      { kind: 'repair', reason: 'gap', gaps: [{ origin: 'a', from: 1, to: 1 }] },
    ]);
  });

  it('asks for repair instead of growing when the buffer is full', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', buffer: { maxEvents: 2 } });
    write(a, [inc('c')]);
    const later = [write(a, [inc('c')]), write(a, [inc('c')]), write(a, [inc('c')])];
    receive(b, later[0]!);
    receive(b, later[1]!);
    const fx = receive(b, later[2]!);
    expect(fx[0]?.kind).toBe('repair');
    expect(b.stats().buffered).toBe(2);
  });

  it('skips a signed event whose ops do not validate, advancing the clock so later events flow', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const bad: Event = {
      origin: 'a',
      seq: 1,
      deps: new Map(),
      hlc: { wall: NOW, logical: 0 },
      ops: [{ t: 'pn-counter', f: 'c', o: { d: 'x' } }],
    };
    const fx = receive(b, bad);
    expect(fx.map((f) => f.kind)).toEqual(['rejected', 'persist']);
    expect(b.read('pn-counter', 'c')).toBeUndefined();
    write(a, [inc('c')]); // a's seq 1, which b saw as the bad event
    const e2 = write(a, [inc('c', 7)]);
    receive(b, e2);
    expect(b.read('pn-counter', 'c')?.value).toBe(7);
    expect(b.stats().rejected).toBe(1);
  });

  it('rejects an event in our own name that we never made', () => {
    const a = new Replica({ id: 'a' });
    const forged: Event = { origin: 'a', seq: 9, deps: new Map(), hlc: { wall: NOW, logical: 0 }, ops: [] };
    expect(receive(a, forged)[0]).toMatchObject({ kind: 'rejected', code: 'INVALID_EVENT' });
  });

  it('does not let a far-future clock drag ours along, but still applies the event', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', maxDriftMs: 1000 });
    const e = write(
      a,
      [{ type: 'lww-register', key: 'k', op: { kind: 'set', value: 'future' } }],
      NOW + 3_600_000,
    );
    const fx = receive(b, e, NOW);
    expect(fx).toContainEqual({ kind: 'clock-drift', origin: 'a', driftMs: 3_600_000 });
    expect(b.hybridClock().wall).toBe(NOW);
    expect(b.read('lww-register', 'k')?.value).toBe('future');
    // A later write by b that saw the future write still overwrites it: it observed it.
    receive(a, write(b, [{ type: 'lww-register', key: 'k', op: { kind: 'set', value: 'now' } }], NOW + 1));
    expect(a.read('lww-register', 'k')?.value).toBe('now');
  });
});

describe('Replica: objects, delete and snapshots', () => {
  it('create makes an empty object; delete removes it; reads of absent objects are undefined', () => {
    const r = new Replica({ id: 'a' });
    write(r, [{ type: 'aw-set', key: 's', op: { kind: 'create' } }]);
    expect(r.read('aw-set', 's')?.value).toEqual([]);
    write(r, [{ type: 'aw-set', key: 's', op: { kind: 'delete' } }]);
    expect(r.read('aw-set', 's')).toBeUndefined();
  });

  it('an object is addressed by (type, key): the same key with two types is two objects', () => {
    const r = new Replica({ id: 'a' });
    write(r, [inc('k'), { type: 'lww-register', key: 'k', op: { kind: 'set', value: 'v' } }]);
    expect(r.list().map((o) => [o.type, o.key, o.value])).toEqual([
      ['lww-register', 'k', 'v'],
      ['pn-counter', 'k', 1],
    ]);
  });

  it('delete against a concurrent update: the update survives, what the deleter saw is gone', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const base = write(a, [inc('c', 10)]);
    receive(b, base);
    const del = write(b, [{ type: 'pn-counter', key: 'c', op: { kind: 'delete' } }]);
    const upd = write(a, [inc('c', 3)]);
    receive(a, del);
    receive(b, upd);
    expect(a.read('pn-counter', 'c')?.value).toBe(3);
    expect(b.read('pn-counter', 'c')?.value).toBe(3);
    expect(a.snapshot().keyspace).toEqual(b.snapshot().keyspace);
  });

  it('lists by prefix in key order', () => {
    const r = new Replica({ id: 'a' });
    write(r, [inc('app/b'), inc('app/a'), inc('other')]);
    expect(r.list('app/').map((o) => o.key)).toEqual(['app/a', 'app/b']);
  });

  it('restores from a snapshot and continues the sequence (never reuses a seq)', () => {
    const r = new Replica({ id: 'a' });
    write(r, [inc('c', 4)]);
    write(r, [{ type: 'aw-set', key: 's', op: { kind: 'add', value: { x: 1 } } }]);
    const back = Replica.fromSnapshot({ id: 'a' }, r.snapshot());
    expect(back.list()).toEqual(r.list());
    expect(write(back, [inc('c')]).seq).toBe(3);
  });

  it('refuses a snapshot that does not cover its own clock', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    write(b, [inc('c')]);
    const snap = b.snapshot();
    write(a, [inc('c')]);
    expect(() => {
      a.install(snap);
    }).toThrow(/would lose events/);
    expect(a.read('pn-counter', 'c')?.value).toBe(1);
  });

  it('a late joiner that installs a snapshot then receives later events converges', () => {
    const a = new Replica({ id: 'a' });
    write(a, [inc('c', 2)]);
    const snap = a.snapshot();
    const next = write(a, [inc('c', 3)]);
    const j = new Replica({ id: 'j' });
    j.install(snap);
    receive(j, next);
    expect(j.read('pn-counter', 'c')?.value).toBe(5);
    expect(j.snapshot().keyspace).toEqual(a.snapshot().keyspace);
  });
});

// Issue 7, "Repair can stall": a gap that never closes (an origin with a seq gap, a hostile
// event far ahead) must not pin buffer slots forever nor ask for repair on every tick.
describe('Replica: the causal buffer cannot be pinned', () => {
  const repairs = (fx: Effect[]) => fx.filter((e) => e.kind === 'repair').length;
  const far = (origin: string, seq: number, deps: Record<string, number> = {}): Event => ({
    origin,
    seq,
    deps: new Map(Object.entries(deps)),
    hlc: { wall: NOW, logical: 0 },
    ops: [{ t: 'pn-counter', f: 'c', o: { p: 1 } }],
  });

  it('asks again for a gap that stays open with a growing interval, not on every tick', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', repairAfterMs: 1000, maxBufferAgeMs: 60_000 });
    write(a, [inc('c')]);
    receive(b, write(a, [inc('c')]), NOW);
    let n = 0;
    for (let t = 0; t <= 20_000; t += 250) n += repairs(b.step({ kind: 'tick' }, NOW + t).effects);
    // At 1, 2, 4, 8 and 16 s: five requests in 20 s, not one every 250 ms.
    expect(n).toBe(5);
  });

  it('evicts events older than maxBufferAgeMs, counts them and asks for repair', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', maxBufferAgeMs: 30_000 });
    write(a, [inc('c')]);
    receive(b, write(a, [inc('c')]), NOW);
    receive(b, write(a, [inc('c')]), NOW + 10_000);
    const fx = b.step({ kind: 'tick' }, NOW + 30_000).effects;
    expect(fx).toContainEqual({ kind: 'dropped', reason: 'age', count: 1 });
    expect(repairs(fx)).toBe(1);
    expect(b.stats().buffered).toBe(1);
    expect(b.stats().evicted).toBe(1);
    b.step({ kind: 'tick' }, NOW + 40_000);
    expect(b.stats().buffered).toBe(0);
    expect(b.stats().evicted).toBe(2);
  });

  it('when full, evicts the oldest events to make room, counted, and asks for repair', () => {
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b', buffer: { maxEvents: 2 } });
    write(a, [inc('c')]);
    const later = [write(a, [inc('c')]), write(a, [inc('c')]), write(a, [inc('c')])];
    receive(b, later[0]!, NOW);
    receive(b, later[1]!, NOW + 1);
    const fx = receive(b, later[2]!, NOW + 2);
    expect(fx).toContainEqual({ kind: 'dropped', reason: 'overflow', count: 1 });
    expect(repairs(fx)).toBe(1);
    expect(b.stats().buffered).toBe(2);
    expect(b.gaps()).toEqual([{ origin: 'a', from: 1, to: 2 }]);
  });

  it('refuses (and counts) an event far ahead of its origin or of a dependency, and stores nothing', () => {
    const b = new Replica({ id: 'b', maxSeqAhead: 1000 });
    const fx1 = receive(b, far('h', 1_000_000_000));
    const fx2 = receive(b, far('h', 1, { x: Number.MAX_SAFE_INTEGER }));
    expect(fx1).toContainEqual({ kind: 'dropped', reason: 'far-ahead', count: 1 });
    expect(fx2).toContainEqual({ kind: 'dropped', reason: 'far-ahead', count: 1 });
    expect(b.stats().buffered).toBe(0);
    expect(b.stats().farAhead).toBe(2);
    // Within the bound it waits as usual.
    receive(b, far('h', 1000));
    expect(b.stats().buffered).toBe(1);
  });
});

describe('Replica: an origin that keeps sending events nobody can fill', () => {
  it('is evicted as it ages, and asks for repair with the same growing interval', () => {
    const b = new Replica({ id: 'b', repairAfterMs: 1000, maxBufferAgeMs: 5000 });
    let n = 0;
    for (let t = 0, seq = 2; t <= 60_000; t += 250) {
      // h:1 never comes; h keeps sending its later events.
      receive(
        b,
        { origin: 'h', seq: seq++, deps: new Map(), hlc: { wall: NOW, logical: 0 }, ops: [] },
        NOW + t,
      );
      n += b.step({ kind: 'tick' }, NOW + t).effects.filter((e) => e.kind === 'repair').length;
    }
    expect(b.stats().buffered).toBeLessThanOrEqual(21); // 5 s of events at four a second
    expect(b.stats().evicted).toBeGreaterThan(200);
    expect(n).toBeLessThanOrEqual(8); // 1, 2, 4, 8, 16, 32, 48 s
  });
});

describe('Replica: a returning writer installs a snapshot that lacks only its newest events', () => {
  it('re-applies its own events on top of the snapshot and keeps its sequence', () => {
    const a = new Replica({ id: 'a' });
    const r = new Replica({ id: 'r' });
    const mine = [write(r, [inc('c', 1)])];
    receive(a, mine[0]!);
    write(a, [inc('c', 10)]);
    const snap = a.snapshot(); // covers r:1 and a:1
    mine.push(write(r, [inc('c', 100)]), write(r, [inc('c', 1000)])); // written after the push
    expect(() => {
      r.install(snap);
    }).toThrow(SmacError);
    expect(() => {
      r.installKeeping(snap, mine.slice(2), NOW);
    }).toThrow(SmacError);
    expect(r.read('pn-counter', 'c')?.value).toBe(1101); // unchanged by the refusals
    r.installKeeping(snap, mine.slice(1), NOW);
    expect(vcToRecord(r.clock())).toEqual({ a: 1, r: 3 });
    expect(r.read('pn-counter', 'c')?.value).toBe(1111);
    expect(write(r, [inc('c')]).seq).toBe(4);
  });
});

describe('Replica: a full buffer flooded by an origin nobody can fill', () => {
  it('evicts to make room without starting the gap backoff over', () => {
    const b = new Replica({
      id: 'b',
      repairAfterMs: 1000,
      buffer: { maxEvents: 10 },
      maxBufferAgeMs: 600_000,
    });
    let n = 0;
    for (let t = 0, seq = 2; t <= 20_000; t += 250) {
      receive(
        b,
        { origin: 'h', seq: seq++, deps: new Map(), hlc: { wall: NOW, logical: 0 }, ops: [] },
        NOW + t,
      );
      n += b.step({ kind: 'tick' }, NOW + t).effects.filter((e) => e.kind === 'repair').length;
    }
    expect(b.stats().buffered).toBe(10);
    expect(n).toBe(5); // at 1, 2, 4, 8 and 16 s of waiting, as for any gap
  });
});

describe('Replica: a returning writer whose snapshot also lacks a third origin it got meanwhile', () => {
  it('re-applies the kept events of every origin, in log order, on top of the snapshot', () => {
    const a = new Replica({ id: 'a' });
    const c = new Replica({ id: 'c' });
    const r = new Replica({ id: 'r' });
    const r1 = write(r, [inc('c', 1)]);
    const c1 = write(c, [inc('c', 10)]);
    receive(a, r1);
    receive(a, c1);
    const snap = a.snapshot(); // r:1, c:1
    const c2 = write(c, [inc('c', 100)]); // reached r, not a
    receive(r, c1);
    receive(r, c2);
    const r2 = write(r, [inc('c', 1000)]); // depends on c:2
    // r's log order: r1, c1, c2, r2; the snapshot lacks c2 and r2.
    expect(() => {
      r.installKeeping(snap, [r2], NOW); // c2 missing: would lose it
    }).toThrow(SmacError);
    expect(() => {
      r.installKeeping(snap, [c1, c2, r2], NOW); // c1 is covered already
    }).toThrow(SmacError);
    expect(r.read('pn-counter', 'c')?.value).toBe(1111); // unchanged by the refusals
    r.installKeeping(snap, [c2, r2], NOW);
    expect(vcToRecord(r.clock())).toEqual({ c: 2, r: 2 });
    expect(r.read('pn-counter', 'c')?.value).toBe(1111);
    expect(write(r, [inc('c')]).seq).toBe(3);
  });
});
