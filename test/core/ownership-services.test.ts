// Ownership of system records (issue 7) for endpoints (`_sys/services/<name>`, element `node`),
// check results (`_sys/checks/<name>`, value `node`) and load figures, and the typed removals any
// member may make (docs/semantics.md "Ownership of system records"). test/core/ownership.test.ts
// covers the member set and gauges.
import { describe, expect, it } from 'vitest';
import { Replica, type Effect } from '../../src/core/replica.js';
import { decodeEvent, encodeEvent } from '../../src/core/codec/event-codec.js';
import type { Event } from '../../src/core/event.js';
import { SYS_CHECKS_PREFIX, SYS_LOAD_PREFIX, SYS_SERVICES_PREFIX } from '../../src/core/ownership.js';

const NOW = 1_700_000_000_000;
const SVC = SYS_SERVICES_PREFIX + 'web';
const CHK = SYS_CHECKS_PREFIX + 'web';
const endpoint = (node: string) => ({ id: `web-${node}`, node, address: '10.0.0.1', port: 80 });
const addEndpoint = (node: string) => ({
  type: 'rw-set',
  key: SVC,
  op: { kind: 'add', value: endpoint(node) },
});
const removeEndpoint = (node: string) => ({
  type: 'rw-set',
  key: SVC,
  op: { kind: 'remove', value: endpoint(node) },
});
const status = (node: string, s: string) => ({ status: s, output: '', node, updatedAt: NOW });
const setCheck = (node: string, s: string) => ({
  type: 'or-map',
  key: CHK,
  op: {
    kind: 'update',
    field: `web-${node}`,
    type: 'lww-register',
    op: { kind: 'set', value: status(node, s) },
  },
});
const removeCheck = (node: string) => ({
  type: 'or-map',
  key: CHK,
  op: { kind: 'remove', field: `web-${node}`, type: 'lww-register' },
});
const countLoad = (node: string) => ({
  type: 'or-map',
  key: SYS_LOAD_PREFIX + 'req',
  op: { kind: 'update', field: node, type: 'pn-counter', op: { kind: 'increment', by: 5 } },
});

/** `writer`'s local event (its ops obey ownership as `writer`), re-signed in `forger`'s name at `seq`. */
function forged(writer: Replica, forger: string, ops: unknown[], seq = 1): Event {
  const e = writer.step({ kind: 'local', ops, system: true }, NOW).event!;
  return decodeEvent(encodeEvent({ ...e, origin: forger, seq, deps: new Map() }, undefined, 2));
}

function receive(r: Replica, e: Event): Effect[] {
  return r.step({ kind: 'remote', event: e, bytes: 100 }, NOW).effects;
}
const rejectedCodes = (fx: Effect[]) =>
  fx.filter((f) => f.kind === 'rejected').map((f) => (f as { code: string }).code);

/** A victim holding b's endpoint, its passing check and its load, written by b itself (version 2). */
function victimWithB(): { victim: Replica; bEvents: Uint8Array[] } {
  const victim = new Replica({ id: 'v' });
  const b = new Replica({ id: 'b', wireVersion: 2 });
  const eb = b.step(
    { kind: 'local', ops: [addEndpoint('b'), setCheck('b', 'passing'), countLoad('b')], system: true },
    NOW,
  );
  expect(rejectedCodes(receive(victim, decodeEvent(eb.encoded!)))).toEqual([]);
  expect(endpoints(victim)).toHaveLength(1);
  return { victim, bEvents: [eb.encoded!] };
}

/**
 * Downstream ops that local writes refuse on system keys (no honest agent makes them): made on
 * `app/x` by an ordinary write, then pointed at the system key `key`.
 */
function retargeted(key: string, type: string, op: unknown): unknown {
  const m = new Replica({ id: 'mallory' });
  const e = m.step({ kind: 'local', ops: [{ type, key: 'app/x', op }] }, NOW).event!;
  return { ...(e.ops[0] as object), f: key };
}
const endpoints = (r: Replica) => r.read('rw-set', SVC)?.value;
const checks = (r: Replica) => r.read('or-map', CHK)?.value;
const load = (r: Replica) => r.read('or-map', SYS_LOAD_PREFIX + 'req')?.value;

describe('ownership of endpoints, check results and load figures (wire version 2)', () => {
  it("a non-owner's endpoint add, check result and load count are no-ops, counted; its other ops apply", () => {
    const { victim } = victimWithB();
    const before = { e: endpoints(victim), c: checks(victim), l: load(victim) };
    // Mallory makes b's records under its own origin: a second endpoint of b's, a critical
    // check result for b's endpoint, and load on b's field.
    const writerB = new Replica({ id: 'b' });
    const other = { ...endpoint('b'), id: 'web-b2' };
    const e = forged(writerB, 'mallory', [
      { type: 'rw-set', key: SVC, op: { kind: 'add', value: other } },
      setCheck('b', 'critical'),
      countLoad('b'),
      { type: 'pn-counter', key: 'app', op: { kind: 'increment', by: 1 } },
    ]);
    expect(rejectedCodes(receive(victim, e))).toEqual(['NOT_OWNER']);
    expect(victim.stats().notOwner).toBe(3);
    expect({ e: endpoints(victim), c: checks(victim), l: load(victim) }).toEqual(before);
    expect(victim.read('pn-counter', 'app')?.value).toBe(1);
    expect(victim.clock().get('mallory')).toBe(1);
  });

  it('a check result is owned by the node its value names: a member writes its own results', () => {
    const { victim } = victimWithB();
    const writerM = new Replica({ id: 'mallory' });
    const e = forged(writerM, 'mallory', [setCheck('mallory', 'critical')]);
    expect(rejectedCodes(receive(victim, e))).toEqual([]);
    expect(victim.stats().notOwner).toBe(0);
  });

  it("typed removals by another member apply: b's endpoint and its check status", () => {
    const { victim, bEvents } = victimWithB();
    const c = new Replica({ id: 'c', wireVersion: 2 });
    // c holds what b wrote, then removes b's endpoint and its check (a dead node's endpoint).
    for (const ev of bEvents) receive(c, decodeEvent(ev));
    const removal = c.step(
      { kind: 'local', ops: [removeEndpoint('b'), removeCheck('b')], system: true },
      NOW,
    );
    expect(rejectedCodes(receive(victim, decodeEvent(removal.encoded!)))).toEqual([]);
    expect(victim.stats().notOwner).toBe(0);
    expect(endpoints(victim)).toEqual([]);
    expect(checks(victim)).toEqual({});
  });

  it("nobody clears a system set, deletes a whole system object, or removes another node's load field", () => {
    const { victim } = victimWithB();
    const before = { e: endpoints(victim), c: checks(victim), l: load(victim) };
    const ops = [
      retargeted(SVC, 'rw-set', { kind: 'clear' }),
      retargeted(CHK, 'or-map', { kind: 'delete' }),
      retargeted(SYS_LOAD_PREFIX + 'req', 'or-map', { kind: 'remove', field: 'b', type: 'pn-counter' }),
    ];
    const e = decodeEvent(
      encodeEvent(
        {
          origin: 'mallory',
          seq: 1,
          deps: new Map(),
          hlc: { wall: NOW, logical: 0 },
          ops: ops as Event['ops'],
        },
        undefined,
        2,
      ),
    );
    expect(rejectedCodes(receive(victim, e))).toEqual(['NOT_OWNER']);
    expect(victim.stats().notOwner).toBe(3);
    expect({ e: endpoints(victim), c: checks(victim), l: load(victim) }).toEqual(before);
  });

  it("a local write of another member's endpoint or check result is refused; its removals are not", () => {
    const { bEvents } = victimWithB();
    const c = new Replica({ id: 'c' });
    for (const ev of bEvents) receive(c, decodeEvent(ev));
    expect(() => c.step({ kind: 'local', ops: [addEndpoint('b')], system: true }, NOW)).toThrow(
      /own system records/,
    );
    expect(() => c.step({ kind: 'local', ops: [setCheck('b', 'critical')], system: true }, NOW)).toThrow(
      /own system records/,
    );
    expect(() => c.step({ kind: 'local', ops: [countLoad('b')], system: true }, NOW)).toThrow(
      /own system records/,
    );
    expect(
      c.step({ kind: 'local', ops: [removeEndpoint('b'), removeCheck('b')], system: true }, NOW).event?.seq,
    ).toBe(1);
  });
});
