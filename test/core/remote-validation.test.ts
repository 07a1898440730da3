// Validation as a pure function of the wire version, and the choice of version to emit
// (issue 7, "Deterministic validation across versions").
import { describe, expect, it } from 'vitest';
import { validateRemoteEvent, remoteRulesFor } from '../../src/core/remote-validation.js';
import { decodeEvent, encodeEvent, wireVersionOf } from '../../src/core/codec/event-codec.js';
import { Replica } from '../../src/core/replica.js';
import { emitVersion, LEGACY_PROTOCOL, LOCAL_PROTOCOL } from '../../src/core/wire-version.js';
import { decodeHeartbeat, encodeHeartbeat } from '../../src/agent/heartbeat.js';
import { WireVersions } from '../../src/agent/versions.js';
import { servedSnapshot } from '../../src/agent/snapshot-exchange.js';
import {
  decodeSnapshot,
  PROVEN_SNAPSHOT_CODEC_VERSION,
  SNAPSHOT_CODEC_VERSION,
} from '../../src/core/codec/snapshot-codec.js';

const NOW = 1_700_000_000_000;
const addOther = {
  type: 'aw-set',
  key: '_sys/members',
  op: { kind: 'add', value: { id: 'b', incarnation: 1, meta: {} } },
};

describe('validation by wire version', () => {
  it('the same event validates the same way everywhere, by its version only', () => {
    const b = new Replica({ id: 'b' });
    const e = b.step({ kind: 'local', ops: [addOther], system: true }, NOW).event!;
    const asMallory = { ...e, origin: 'mallory' };
    const v1 = decodeEvent(encodeEvent(asMallory, undefined, 1));
    const v2 = decodeEvent(encodeEvent(asMallory, undefined, 2));
    expect([wireVersionOf(v1), wireVersionOf(v2)]).toEqual([1, 2]);
    expect(validateRemoteEvent(v1).skipped).toEqual([]);
    expect(validateRemoteEvent(v2).skipped.map((s) => s.index)).toEqual([0]);
    const v3 = decodeEvent(encodeEvent(asMallory, undefined, 3));
    expect(validateRemoteEvent(v3).skipped.map((s) => s.index)).toEqual([0]);
    expect(remoteRulesFor(3)?.owned.reaps).toBe(true);
    expect(remoteRulesFor(2)?.owned.reaps).toBe(false);
    expect(remoteRulesFor(4)).toEqual({ ...remoteRulesFor(3), version: 4 });
    // 5 changes the envelope (chained, src/net/envelope.ts), not the rules.
    expect(remoteRulesFor(5)).toEqual({ ...remoteRulesFor(3), version: 5 });
    expect(remoteRulesFor(6)).toBeUndefined();
  });

  it('an unknown version is refused by the codec, never guessed at', () => {
    const e = new Replica({ id: 'a' }).step(
      { kind: 'local', ops: [{ type: 'pn-counter', key: 'x', op: { kind: 'increment', by: 1 } }] },
      NOW,
    ).event!;
    expect(() => encodeEvent(e, undefined, 6)).toThrow(/wire version 6/);
  });
});

describe('which version to emit', () => {
  const v2 = { major: 1, minEvent: 1, maxEvent: 2 };
  it('the highest every known member supports; unheard or old members count as v1', () => {
    expect(emitVersion(LOCAL_PROTOCOL, [])).toBe(5);
    expect(emitVersion(LOCAL_PROTOCOL, [v2, v2])).toBe(2);
    expect(emitVersion(LOCAL_PROTOCOL, [v2, undefined])).toBe(1);
    expect(emitVersion(LOCAL_PROTOCOL, [v2, LEGACY_PROTOCOL])).toBe(1);
    expect(emitVersion(LOCAL_PROTOCOL, [{ major: 1, minEvent: 1, maxEvent: 9 }])).toBe(5);
  });

  it('mayRead: a peer heard advertising less (or nothing) does not; one not heard from yet may', () => {
    const w = new WireVersions({ error: () => undefined } as never);
    w.heard('b', v2);
    w.heard('old', undefined);
    w.heard('new', LOCAL_PROTOCOL);
    expect([w.mayRead('b', 4), w.mayRead('b', 2), w.mayRead('old', 2), w.mayRead('new', 4)]).toEqual([
      false,
      true,
      false,
      true,
    ]);
    expect(w.mayRead('unheard', 4)).toBe(true);
  });

  it('a peer of another major is refused, logged once and counted, and not waited for', () => {
    const lines: unknown[] = [];
    const w = new WireVersions({ error: (...a: unknown[]) => void lines.push(a) } as never);
    expect(w.heard('b', v2)).toBe(true);
    expect(w.heard('x', { major: 2, minEvent: 5, maxEvent: 5 })).toBe(false);
    expect(w.heard('x', { major: 2, minEvent: 5, maxEvent: 5 })).toBe(false);
    expect(w.refusedHeartbeats).toBe(2);
    expect(lines).toHaveLength(1);
    expect(w.emitVersion(['b', 'x'])).toBe(2);
    expect(w.emitVersion(['b', 'c'])).toBe(1); // c not heard from yet
  });

  it('a member heard advertising no range is legacy (it gets v1 snapshots); one not heard is not', () => {
    const w = new WireVersions({ error: () => undefined } as never);
    w.heard('old', undefined);
    w.heard('new', v2);
    expect(w.isLegacy('old')).toBe(true);
    expect(w.isLegacy('new')).toBe(false);
    expect(w.isLegacy('unheard')).toBe(false);
    w.forget('old');
    expect(w.isLegacy('old')).toBe(false);
  });

  it('a served snapshot is v2 with signed heads, or v1 without them for a legacy member', () => {
    const r = new Replica({ id: 'a' });
    r.step({ kind: 'local', ops: [{ type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 2 } }] }, 1);
    const head = new Uint8Array([1, 2, 3]);
    const deps = { replica: r, store: { head: () => head }, log: { warn: () => undefined } } as never;
    const proven = servedSnapshot(deps);
    const legacy = servedSnapshot(deps, { proven: false });
    expect(proven.bytes[0]).toBe(PROVEN_SNAPSHOT_CODEC_VERSION);
    expect(legacy.bytes[0]).toBe(SNAPSHOT_CODEC_VERSION);
    expect(decodeSnapshot(legacy.bytes).vc).toEqual(decodeSnapshot(proven.bytes).vc);
    expect(decodeSnapshot(legacy.bytes).heads).toBeUndefined();
  });

  it('heartbeats carry the range additively; a beat without one decodes as before', () => {
    const hb = { vc: new Map([['a', 1]]), region: 'r', leaving: false, peers: [] };
    expect(decodeHeartbeat(encodeHeartbeat(hb))).toEqual(hb);
    expect(decodeHeartbeat(encodeHeartbeat({ ...hb, protocol: LOCAL_PROTOCOL }))?.protocol).toEqual(
      LOCAL_PROTOCOL,
    );
    const bad = new TextEncoder().encode(
      JSON.stringify({ v: 1, vc: {}, region: 'r', leaving: false, peers: [], protocol: 'x' }),
    );
    expect(decodeHeartbeat(bad)).toEqual({ vc: new Map(), region: 'r', leaving: false, peers: [] });
  });
});
