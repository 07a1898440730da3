// A mixed-version pair (issue 7, "Deterministic validation across versions"): how a remote
// event validates is a pure function of its wire version, so a replica of this release applies
// an older release's events exactly as that release does, and a stored snapshot holding what
// they wrote loads.
import { describe, expect, it } from 'vitest';
import { Replica, type Effect } from '../../src/core/replica.js';
import { decodeEvent, encodeEvent } from '../../src/core/codec/event-codec.js';
import type { Event } from '../../src/core/event.js';
import type { Json } from '../../src/core/json.js';

const NOW = 1_700_000_000_000;
const inc = (key: string, by = 1) => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });

/** Over the wire: encoded at the replica's version, decoded as a peer would. */
function wire(e: Event, version?: number): Event {
  return decodeEvent(encodeEvent(e, undefined, version));
}

function write(r: Replica, ops: unknown[]): Event {
  const { event, encoded } = r.step({ kind: 'local', ops }, NOW);
  if (!event || !encoded) throw new Error('no event');
  return decodeEvent(encoded);
}

function receive(r: Replica, e: Event): Effect[] {
  return r.step({ kind: 'remote', event: e, bytes: 100 }, NOW).effects;
}

/**
 * An older release: the same replica, except its keys may have "." segments (the rule came
 * later). Its events are made here by writing under a placeholder key and renaming it in the
 * ops, which is exactly what that release would have emitted.
 */
class OldRelease {
  private readonly r: Replica;
  constructor(id: string) {
    this.r = new Replica({ id });
  }
  write(ops: { type: string; key: string; op: unknown }[]): Event {
    const renames = new Map<string, string>();
    const placeholder = ops.map((o, i) => {
      const p = `placeholder-${i}`;
      renames.set(p, o.key);
      return { ...o, key: p };
    });
    const e = write(this.r, placeholder);
    const ops2 = e.ops.map((d) => {
      const rec = d as Record<string, Json>;
      const f = renames.get(rec.f as string) ?? (rec.f as string);
      return { ...rec, f };
    });
    return wire({ ...e, ops: ops2 }, 1);
  }
}

describe('mixed-version pair: a version-1 event is applied as version 1 applies it', () => {
  it('an older release writes "./x" and "a/../b"; this release applies them, in order', () => {
    const old = new OldRelease('old');
    const e1 = old.write([inc('./x', 2), inc('a/../b', 5)]);
    const e2 = old.write([inc('./x', 3)]);
    const now = new Replica({ id: 'new' });
    const fx = [...receive(now, e1), ...receive(now, e2)];
    expect(fx.filter((f) => f.kind === 'rejected')).toEqual([]);
    expect(now.read('pn-counter', './x')?.value).toBe(5);
    expect(now.read('pn-counter', 'a/../b')?.value).toBe(5);
    expect(now.clock().get('old')).toBe(2);
  });

  it("validation does not depend on the receiver's configured limits", () => {
    const old = new OldRelease('old');
    const e = old.write([inc('k'.repeat(100))]);
    const strict = new Replica({ id: 'strict', limits: { maxKeyBytes: 16 } });
    expect(receive(strict, e).filter((f) => f.kind === 'rejected')).toEqual([]);
    expect(strict.read('pn-counter', 'k'.repeat(100))?.value).toBe(1);
  });

  it('client-input rules still hold for local writes', () => {
    const r = new Replica({ id: 'a' });
    expect(() => r.step({ kind: 'local', ops: [inc('./x')] }, NOW)).toThrow(/"\." or "\.\." segment/);
  });

  it('a stored snapshot holding such a key loads (start-up does not fail)', () => {
    const old = new OldRelease('old');
    const now = new Replica({ id: 'new' });
    receive(now, old.write([inc('./x', 7)]));
    const snap = now.snapshot();
    const restarted = Replica.fromSnapshot({ id: 'new' }, snap);
    expect(restarted.read('pn-counter', './x')?.value).toBe(7);
  });

  it('a stored snapshot written by the older release itself loads', () => {
    // Build the old release's state by hand: a counter under a placeholder, renamed in the JSON.
    const r = new Replica({ id: 'old' });
    r.step({ kind: 'local', ops: [inc('placeholder', 4)] }, NOW);
    const snap = r.snapshot();
    const keyspace = JSON.parse(JSON.stringify(snap.keyspace).replaceAll('"placeholder"', '"a/./b"'));
    const restarted = Replica.fromSnapshot({ id: 'old' }, { ...snap, keyspace });
    expect(restarted.read('pn-counter', 'a/./b')?.value).toBe(4);
  });

  it('both sides of the pair converge on the same state', () => {
    const old = new OldRelease('old');
    const a = new Replica({ id: 'a' });
    const b = new Replica({ id: 'b' });
    const events = [old.write([inc('./x')]), old.write([inc('y/..', 2)])];
    for (const e of events) {
      receive(a, e);
      receive(b, e);
    }
    const eb = write(b, [inc('y', 1)]);
    receive(a, eb);
    expect(a.snapshot().keyspace).toEqual(b.snapshot().keyspace);
    expect(a.list().map((o) => o.key)).toEqual(['./x', 'y', 'y/..']);
  });
});
