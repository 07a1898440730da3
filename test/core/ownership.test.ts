// Ownership of system records (issue 7): from wire version 2, an op by a member on another
// member's system records is a counted no-op; typed removals stay open to everyone; under
// version 1 the old rules hold (any member writes anything), so old events apply as before.
import { describe, expect, it } from 'vitest';
import { Replica, type Effect } from '../../src/core/replica.js';
import { decodeEvent, encodeEvent } from '../../src/core/codec/event-codec.js';
import type { Event } from '../../src/core/event.js';
import {
  SYS_CHECKS_PREFIX,
  SYS_GAUGES_PREFIX,
  SYS_LOAD_PREFIX,
  SYS_MEMBERS_KEY,
  SYS_SERVICES_PREFIX,
} from '../../src/core/ownership.js';
import { MEMBERS_KEY } from '../../src/agent/membership.js';
import { CHECKS_PREFIX, SERVICES_PREFIX } from '../../src/services/discovery.js';
import { GAUGES_PREFIX, LOAD_PREFIX } from '../../src/services/load.js';

const NOW = 1_700_000_000_000;
const member = (id: string, incarnation = 1) => ({ id, incarnation, meta: { region: 'eu' } });
const addMember = (id: string) => ({
  type: 'aw-set',
  key: SYS_MEMBERS_KEY,
  op: { kind: 'add', value: member(id) },
});
const gauge = (node: string, value: number) => ({
  type: 'or-map',
  key: SYS_GAUGES_PREFIX + 'cpu',
  op: { kind: 'update', field: node, type: 'lww-register', op: { kind: 'set', value } },
});

/** An event `writer` makes as if it were `forger`'s own (same ops, forger's origin), at `version`. */
function forged(writer: string, forger: string, ops: unknown[], version: number): Event {
  const r = new Replica({ id: writer });
  const e = r.step({ kind: 'local', ops, system: true }, NOW).event!;
  return decodeEvent(encodeEvent({ ...e, origin: forger, seq: 1, deps: new Map() }, undefined, version));
}

function receive(r: Replica, e: Event): Effect[] {
  return r.step({ kind: 'remote', event: e, bytes: 100 }, NOW).effects;
}

describe('ownership of system records', () => {
  it('the core layouts are the agent and services layouts', () => {
    expect([
      SYS_MEMBERS_KEY,
      SYS_SERVICES_PREFIX,
      SYS_CHECKS_PREFIX,
      SYS_LOAD_PREFIX,
      SYS_GAUGES_PREFIX,
    ]).toEqual([MEMBERS_KEY, SERVICES_PREFIX, CHECKS_PREFIX, LOAD_PREFIX, GAUGES_PREFIX]);
  });

  it('v2: events from a non-owner touching _sys/ are no-ops, counted; the rest applies', () => {
    const victim = new Replica({ id: 'v' });
    const e = forged(
      'b',
      'mallory',
      [addMember('b'), gauge('b', 99), { type: 'pn-counter', key: 'app', op: { kind: 'increment', by: 1 } }],
      2,
    );
    const fx = receive(victim, e);
    expect(fx.filter((f) => f.kind === 'rejected').map((f) => (f as { code: string }).code)).toEqual([
      'NOT_OWNER',
    ]);
    expect(victim.stats().notOwner).toBe(2);
    expect(victim.read('aw-set', SYS_MEMBERS_KEY)).toBeUndefined();
    expect(victim.read('or-map', SYS_GAUGES_PREFIX + 'cpu')).toBeUndefined();
    expect(victim.read('pn-counter', 'app')?.value).toBe(1);
    expect(victim.clock().get('mallory')).toBe(1);
  });

  it('v2: a member writes its own records; any member may remove a member record', () => {
    const victim = new Replica({ id: 'v' });
    const b = new Replica({ id: 'b', wireVersion: 2 });
    const eb = b.step({ kind: 'local', ops: [addMember('b'), gauge('b', 1)], system: true }, NOW);
    receive(victim, decodeEvent(eb.encoded!));
    expect(victim.read('aw-set', SYS_MEMBERS_KEY)?.value).toEqual([member('b')]);
    const c = new Replica({ id: 'c', wireVersion: 2 });
    receive(c, decodeEvent(eb.encoded!));
    const removal = c.step(
      {
        kind: 'local',
        ops: [{ type: 'aw-set', key: SYS_MEMBERS_KEY, op: { kind: 'remove', value: member('b') } }],
        system: true,
      },
      NOW,
    );
    expect(receive(victim, decodeEvent(removal.encoded!)).filter((f) => f.kind === 'rejected')).toEqual([]);
    expect(victim.read('aw-set', SYS_MEMBERS_KEY)?.value).toEqual([]);
  });

  it('v1: the old rules hold (determinism across releases)', () => {
    const victim = new Replica({ id: 'v' });
    const fx = receive(victim, forged('b', 'mallory', [addMember('b')], 1));
    expect(fx.filter((f) => f.kind === 'rejected')).toEqual([]);
    expect(victim.read('aw-set', SYS_MEMBERS_KEY)?.value).toEqual([member('b')]);
  });

  it('a local system write to another member record is refused, nothing changes', () => {
    const a = new Replica({ id: 'a' });
    expect(() => a.step({ kind: 'local', ops: [addMember('b')], system: true }, NOW)).toThrow(
      /own system records/,
    );
    expect(() => a.step({ kind: 'local', ops: [gauge('b', 1)], system: true }, NOW)).toThrow(
      /own system records/,
    );
    expect(a.list()).toEqual([]);
    expect(
      a.step({ kind: 'local', ops: [addMember('a'), gauge('a', 1)], system: true }, NOW).event?.seq,
    ).toBe(1);
  });
});
