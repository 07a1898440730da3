// A piggybacked SWIM "alive" must not rewrite another member's metadata (issue 7, "Any member
// can write any member's records"): meta comes from the member's own announcements only.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Membership, MEMBERS_KEY, trustedAlive } from '../../src/agent/membership.js';
import { LAN_PROFILE } from '../../src/core/membership/config.js';
import type { SmacNode } from '../../src/net/node.js';

function membership(records: unknown[]): Membership {
  return new Membership({
    node: {} as SmacNode,
    self: { id: 'a', incarnation: 1, meta: { region: 'here' } },
    config: LAN_PROFILE,
    log: pino({ level: 'silent' }),
    write: () => Promise.resolve(),
    read: () => ({ type: 'aw-set', key: MEMBERS_KEY, value: records as never }),
    isolated: () => false,
  });
}

describe('SWIM alive gossip and member metadata', () => {
  it("a relayed alive about b does not change b's region; b's own record decides", () => {
    const m = membership([{ id: 'b', incarnation: 1, meta: { region: 'eu' } }]);
    m.membersChanged();
    expect(m.region('b')).toBe('eu');
    // Mallory relays an "alive" for b with a higher incarnation and other metadata.
    const relayed = { kind: 'alive' as const, id: 'b', incarnation: 7, meta: { region: 'evil' } };
    (m as unknown as { apply(i: unknown): void }).apply(relayed); // what today's receive path does
    expect(m.region('b')).toBe('eu');
    expect(m.members().find((v) => v.id === 'b')?.meta).toEqual({ region: 'eu' });
  });

  it('relayed alive keeps its liveness news but takes the announced meta; unknown members are dropped', () => {
    const meta = (id: string) => (id === 'b' ? { region: 'eu' } : undefined);
    const alive = (id: string) => ({ kind: 'alive' as const, id, incarnation: 7, meta: { region: 'evil' } });
    expect(trustedAlive(alive('b'), 'mallory', 'a', meta)).toEqual({ ...alive('b'), meta: { region: 'eu' } });
    expect(trustedAlive(alive('b'), 'b', 'a', meta)).toEqual(alive('b')); // b's own announcement
    expect(trustedAlive(alive('z'), 'mallory', 'a', meta)).toBeUndefined();
    const suspect = { kind: 'suspect' as const, id: 'b', incarnation: 7, from: 'mallory' };
    expect(trustedAlive(suspect, 'mallory', 'a', meta)).toBe(suspect);
  });
});
