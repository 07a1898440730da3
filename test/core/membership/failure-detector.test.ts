/**
 * The failure detector as a state machine: transition tables (incarnation rules, refutation,
 * dead and left are final, rejoin), one protocol period step by step (ping, ping-req, nack,
 * suspicion, the last-chance ping), Lifeguard's mechanisms (local health, confirmations, the
 * buddy system), the gossip loop, leaving, bounds, and validation of everything a peer sends.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LAN_PROFILE, type MembershipConfig } from '../../../src/core/membership/config.js';
import { FailureDetector } from '../../../src/core/membership/failure-detector.js';
import type {
  MembershipEffect,
  MembershipInput,
  MembershipMessage,
  MemberStatus,
} from '../../../src/core/membership/messages.js';
import { ErrorCode, SmacError } from '../../../src/core/errors.js';
import { Prng } from '../../support/prng.js';

const META = { region: 'eu-west', addrs: ['/ip4/10.0.0.1/tcp/7946'] };
/**
 * The LAN profile with memberlist's suspicion floor (4 s for N ≤ 10) and single probe before a
 * suspicion, which the timings in these tests were worked out from; the floor itself is tested
 * in config.test.ts, further probe attempts in probe-attempts.test.ts.
 */
const MEMBERLIST_LAN: MembershipConfig = { ...LAN_PROFILE, suspicionFloorMs: 4_000, probeAttempts: 1 };

function make(
  others = ['b', 'c', 'd', 'e'],
  config: MembershipConfig = MEMBERLIST_LAN,
  seed = 1,
): FailureDetector {
  const rng = new Prng(seed);
  const fd = new FailureDetector({ id: 'a', incarnation: 0, meta: META }, config, () => rng.next());
  fd.step({ kind: 'members-seen', members: others.map((id) => ({ id, incarnation: 0, meta: META })) }, 0);
  return fd;
}

function only<K extends MembershipEffect['kind']>(
  fx: readonly MembershipEffect[],
  kind: K,
): Extract<MembershipEffect, { kind: K }>[] {
  return fx.filter((e): e is Extract<MembershipEffect, { kind: K }> => e.kind === kind);
}

function transitions(fx: readonly MembershipEffect[]): string[] {
  return only(fx, 'status-changed').map((e) => `${e.id}:${e.from ?? 'new'}->${e.to}`);
}

const alive = (id: string, incarnation: number): MembershipMessage => ({
  kind: 'alive',
  id,
  incarnation,
  meta: META,
});
const suspect = (id: string, incarnation: number, from = 'c'): MembershipMessage => ({
  kind: 'suspect',
  id,
  incarnation,
  from,
});
const dead = (id: string, incarnation: number, from = 'c'): MembershipMessage => ({
  kind: 'dead',
  id,
  incarnation,
  from,
});
const left = (id: string, incarnation: number): MembershipMessage => ({ kind: 'left', id, incarnation });

/** Ticks at the detector's own deadlines until it pings; returns the ping and its time. */
function nextPing(
  fd: FailureDetector,
  from = 0,
): { to: string; seq: number; at: number; fx: MembershipEffect[] } {
  for (let i = 0; i < 50; i++) {
    const at = Math.max(from, fd.nextTickAtMs());
    const fx = fd.step({ kind: 'tick' }, at);
    const ping = only(fx, 'send-ping')[0];
    if (ping) return { to: ping.to, seq: ping.seq, at, fx };
    from = at;
  }
  throw new Error('no probe within 50 ticks');
}

describe('transitions about another member', () => {
  it.each<[string, MembershipMessage[], MemberStatus, number, string[]]>([
    ['suspect at the known incarnation', [suspect('b', 0)], 'suspect', 0, ['alive->suspect']],
    ['a suspicion at an older incarnation is stale', [alive('b', 2), suspect('b', 1)], 'alive', 2, []],
    ['a suspicion at a newer incarnation counts', [suspect('b', 3)], 'suspect', 3, ['alive->suspect']],
    [
      'alive at the same incarnation does not refute',
      [suspect('b', 0), alive('b', 0)],
      'suspect',
      0,
      ['alive->suspect'],
    ],
    [
      'alive at a higher incarnation refutes',
      [suspect('b', 0), alive('b', 1)],
      'alive',
      1,
      ['alive->suspect', 'suspect->alive'],
    ],
    ['suspect then dead', [suspect('b', 0), dead('b', 0)], 'dead', 0, ['alive->suspect', 'suspect->dead']],
    ['dead straight from alive', [dead('b', 0)], 'dead', 0, ['alive->dead']],
    [
      'dead is final for its incarnation',
      [dead('b', 0), alive('b', 0), suspect('b', 0), left('b', 0)],
      'dead',
      0,
      ['alive->dead'],
    ],
    [
      'rejoin with a higher incarnation',
      [dead('b', 0), alive('b', 1)],
      'alive',
      1,
      ['alive->dead', 'dead->alive'],
    ],
    ['a dead claim at an older incarnation is stale', [alive('b', 2), dead('b', 1)], 'alive', 2, []],
    [
      'dead at a newer incarnation than suspected',
      [suspect('b', 0), dead('b', 2)],
      'dead',
      2,
      ['alive->suspect', 'suspect->dead'],
    ],
    ['left', [left('b', 0)], 'left', 0, ['alive->left']],
    [
      'left is final for its incarnation',
      [left('b', 0), alive('b', 0), suspect('b', 0), dead('b', 0)],
      'left',
      0,
      ['alive->left'],
    ],
    ['rejoin after leaving', [left('b', 0), alive('b', 1)], 'alive', 1, ['alive->left', 'left->alive']],
    ['a newer alive while alive changes no status', [alive('b', 4)], 'alive', 4, []],
  ])('%s', (_name, inputs, status, incarnation, expected) => {
    const fd = make();
    const fx = inputs.flatMap((m, i) => fd.step(m, 100 + i));
    expect(fd.get('b')).toMatchObject({ status, incarnation });
    expect(transitions(fx)).toEqual(expected.map((t) => `b:${t}`));
  });

  it('status-changed carries incarnation, metadata and time', () => {
    const fd = make();
    const fx = fd.step(suspect('b', 0), 1_234);
    expect(only(fx, 'status-changed')).toEqual([
      {
        kind: 'status-changed',
        id: 'b',
        from: 'alive',
        to: 'suspect',
        incarnation: 0,
        meta: META,
        atMs: 1_234,
      },
    ]);
    expect(fd.get('b')?.sinceMs).toBe(1_234);
  });

  it('gossip about a member we never heard of is ignored', () => {
    const fd = make();
    for (const m of [suspect('z', 0), dead('z', 0), left('z', 0)]) expect(fd.step(m, 5)).toEqual([]);
    expect(fd.get('z')).toBeUndefined();
  });

  it('join gossips the newcomer on; members-seen (every agent reads the same set) does not', () => {
    const fd = make();
    const before = fd.stats().pendingGossip;
    const fx1 = fd.step({ kind: 'members-seen', members: [{ id: 'y', incarnation: 0, meta: null }] }, 1);
    expect(transitions(fx1)).toEqual(['y:new->alive']);
    expect(fd.stats().pendingGossip).toBe(before);
    const fx2 = fd.step({ kind: 'join', member: { id: 'z', incarnation: 2, meta: null } }, 2);
    expect(transitions(fx2)).toEqual(['z:new->alive']);
    expect(fd.stats().pendingGossip).toBe(before + 1);
    expect(fd.get('z')).toMatchObject({ status: 'alive', incarnation: 2, meta: null });
  });

  it('relays news once and originates broadcasts only for its own claims', () => {
    const fd = make();
    expect(only(fd.step(suspect('b', 0, 'c'), 1), 'broadcast')).toEqual([]);
    const fx = fd.step(dead('d', 0, 'a'), 2);
    expect(only(fx, 'broadcast').map((e) => e.message)).toEqual([dead('d', 0, 'a')]);
  });
});

describe('refutation: claims about ourselves', () => {
  it.each<[string, MembershipInput[], number]>([
    ['suspected at our incarnation', [suspect('a', 0, 'b')], 1],
    ['declared dead at a later incarnation', [dead('a', 4, 'b')], 5],
    ['said to have left while we have not', [left('a', 0)], 1],
    ['refute-needed (our record was removed)', [{ kind: 'refute-needed', incarnation: 3 }], 4],
    ['an alive claim about us at a newer incarnation (an earlier life)', [alive('a', 2)], 3],
    [
      'an alive claim at our incarnation with other metadata',
      [{ kind: 'alive', id: 'a', incarnation: 0, meta: { region: 'elsewhere' } }],
      1,
    ],
    [
      'our own record in _sys/members, newer than we remember',
      [{ kind: 'members-seen', members: [{ id: 'a', incarnation: 6, meta: META }] }],
      7,
    ],
  ])('%s', (_name, inputs, incarnation) => {
    const fd = make();
    const fx = inputs.flatMap((m) => fd.step(m, 10));
    expect(only(fx, 'refute')).toEqual([{ kind: 'refute', incarnation }]);
    expect(only(fx, 'broadcast').map((e) => e.message)).toEqual([
      { kind: 'alive', id: 'a', incarnation, meta: META },
    ]);
    expect(fd.incarnation).toBe(incarnation);
    expect(fd.self.status).toBe('alive');
    expect(transitions(fx)).toEqual([]);
    expect(fd.healthScore).toBe(1);
  });

  it('our own echo is not a conflict, and stale accusations need no new incarnation', () => {
    const fd = make();
    expect(fd.step(alive('a', 0), 1)).toEqual([]);
    fd.step(suspect('a', 0, 'b'), 2);
    expect(fd.incarnation).toBe(1);
    expect(only(fd.step(suspect('a', 0, 'c'), 3), 'refute')).toEqual([]);
    expect(only(fd.step(dead('a', 0, 'c'), 4), 'refute')).toEqual([]);
    expect(fd.incarnation).toBe(1);
  });
});

describe('one protocol period', () => {
  it('a ping answered in time: nothing to suspect, next probe one period later', () => {
    const fd = make();
    const p = nextPing(fd);
    expect(['b', 'c', 'd', 'e']).toContain(p.to);
    expect(fd.step({ kind: 'ack', from: p.to, seq: p.seq }, p.at + 3)).toEqual([]);
    expect(fd.nextTickAtMs()).toBe(p.at + 1_000);
    const fx = fd.step({ kind: 'tick' }, p.at + 1_000);
    expect(only(fx, 'send-ping')).toHaveLength(1);
    expect(transitions(fx)).toEqual([]);
    expect(fd.stats().probeFailures).toBe(0);
  });

  it('no ack: ping-req through k others after the timeout, suspicion at the end of the period', () => {
    const fd = make();
    const p = nextPing(fd);
    expect(fd.nextTickAtMs()).toBe(p.at + 500);
    const fx = fd.step({ kind: 'tick' }, p.at + 500);
    const [req] = only(fx, 'send-ping-req');
    expect(req).toBeDefined();
    expect(req?.target).toBe(p.to);
    expect(req?.seq).toBe(p.seq);
    expect(req?.via).toHaveLength(3);
    expect(new Set(req?.via).size).toBe(3);
    expect(req?.via).not.toContain(p.to);
    expect(req?.via).not.toContain('a');
    // 80% of the 500 ms left in the period: the nacks come back before it ends.
    expect(req?.timeoutMs).toBe(400);
    for (const via of req?.via ?? []) fd.step({ kind: 'nack', from: via, seq: p.seq }, p.at + 910);
    const end = fd.step({ kind: 'tick' }, p.at + 1_000);
    expect(transitions(end)).toEqual([`${p.to}:alive->suspect`]);
    expect(only(end, 'broadcast').map((e) => e.message)).toEqual([suspect(p.to, 0, 'a')]);
    expect(fd.get(p.to)?.suspicion).toEqual({ confirmations: 0, deadlineMs: p.at + 1_000 + 24_000 });
    // Every helper nacked: the trouble is the target's, not ours.
    expect(fd.healthScore).toBe(0);
    expect(fd.stats()).toMatchObject({ probes: 2, probeFailures: 1, suspicionsRaised: 1 });
  });

  it('an ack relayed by a helper counts', () => {
    const fd = make();
    const p = nextPing(fd);
    const req = only(fd.step({ kind: 'tick' }, p.at + 500), 'send-ping-req')[0];
    fd.step({ kind: 'ack', from: req?.via[0] ?? '', seq: p.seq }, p.at + 700);
    expect(transitions(fd.step({ kind: 'tick' }, p.at + 1_000))).toEqual([]);
    expect(fd.get(p.to)?.status).toBe('alive');
  });

  it.each([
    ['all three helpers nack', 3, 0],
    ['one helper nacks', 1, 2],
    ['no helper nacks', 0, 3],
  ])('Lifeguard local health: %s (%i nacks) → score %i', (_name, nacks, score) => {
    const fd = make();
    const p = nextPing(fd);
    const req = only(fd.step({ kind: 'tick' }, p.at + 500), 'send-ping-req')[0];
    for (const via of (req?.via ?? []).slice(0, nacks))
      fd.step({ kind: 'nack', from: via, seq: p.seq }, p.at + 900);
    // A nack from someone we did not ask, or for another seq, does not count.
    fd.step({ kind: 'nack', from: p.to, seq: p.seq }, p.at + 900);
    fd.step({ kind: 'nack', from: req?.via[0] ?? '', seq: p.seq + 100 }, p.at + 900);
    fd.step({ kind: 'tick' }, p.at + 1_000);
    expect(fd.healthScore).toBe(score);
  });

  it('with nobody to ask, a failed probe counts against us', () => {
    const fd = make(['b']);
    const p = nextPing(fd);
    expect(only(fd.step({ kind: 'tick' }, p.at + 500), 'send-ping-req')).toEqual([]);
    fd.step({ kind: 'tick' }, p.at + 1_000);
    expect(fd.healthScore).toBe(1);
  });

  it('an unhealthy member probes more patiently: period and timeout scale by score + 1', () => {
    const fd = make();
    const p = nextPing(fd);
    fd.step({ kind: 'tick' }, p.at + 500);
    fd.step({ kind: 'tick' }, p.at + 1_000); // failed, no nacks: score 3, new probe started
    expect(fd.healthScore).toBe(3);
    const t = p.at + 1_000;
    expect(fd.nextTickAtMs()).toBe(t + 2_000);
    const req = only(fd.step({ kind: 'tick' }, t + 2_000), 'send-ping-req')[0];
    expect(req?.timeoutMs).toBe(Math.floor(2_000 * 0.8));
    // A success lowers the score by one.
    fd.step({ kind: 'ack', from: req?.target ?? '', seq: req?.seq ?? 0 }, t + 2_100);
    expect(fd.healthScore).toBe(2);
    expect(fd.nextTickAtMs()).toBe(t + 4_000);
  });

  it('probes every member once per round, in a fresh shuffled order each round', () => {
    const fd = make(['b', 'c', 'd', 'e', 'f']);
    const rounds: string[][] = [];
    let at = 0;
    for (let r = 0; r < 4; r++) {
      const round: string[] = [];
      for (let i = 0; i < 5; i++) {
        const p = nextPing(fd, at);
        fd.step({ kind: 'ack', from: p.to, seq: p.seq }, p.at + 1);
        round.push(p.to);
        at = p.at + 1;
      }
      rounds.push(round);
    }
    for (const round of rounds) expect([...round].sort()).toEqual(['b', 'c', 'd', 'e', 'f']);
    expect(new Set(rounds.map((r) => r.join())).size).toBeGreaterThan(1);
  });

  it('does not probe dead or left members, and does probe suspects', () => {
    const fd = make(['b', 'c', 'd']);
    fd.step(dead('b', 0), 1);
    fd.step(left('c', 0), 1);
    fd.step(suspect('d', 0), 1);
    let at = 1;
    for (let i = 0; i < 4; i++) {
      const p = nextPing(fd, at);
      expect(p.to).toBe('d');
      fd.step({ kind: 'ack', from: 'd', seq: p.seq }, p.at + 1);
      at = p.at + 1;
    }
  });
});

describe('suspicion timeout', () => {
  it('unconfirmed: max, then a last-chance ping, then dead', () => {
    const fd = make(); // N = 5 with us: min 4 s, max 24 s, k = 2
    fd.step(suspect('b', 0, 'c'), 1_000);
    expect(fd.get('b')?.suspicion?.deadlineMs).toBe(25_000);
    // Keep the probe cycle on other members out of the way.
    const fx = fd.step({ kind: 'tick' }, 25_000);
    const last = only(fx, 'send-ping').find((e) => e.to === 'b');
    expect(last?.piggyback[0]).toEqual(suspect('b', 0, 'a'));
    expect(transitions(fx).filter((t) => t.startsWith('b:'))).toEqual([]);
    const end = fd.step({ kind: 'tick' }, 25_500);
    expect(transitions(end)).toContain('b:suspect->dead');
    expect(only(end, 'broadcast').map((e) => e.message)).toContainEqual(dead('b', 0, 'a'));
  });

  it('the last chance goes out a probe timeout before the end: dead when the suspicion ends', () => {
    const fd = make();
    fd.step(suspect('b', 0, 'c'), 1_000);
    expect(fd.nextTickAtMs()).toBeLessThanOrEqual(24_500);
    const fx = fd.step({ kind: 'tick' }, 24_500);
    expect(only(fx, 'send-ping').filter((e) => e.to === 'b')).toHaveLength(1);
    expect(fd.get('b')?.suspicion?.deadlineMs).toBe(25_000);
    expect(transitions(fd.step({ kind: 'tick' }, 25_000))).toContain('b:suspect->dead');
  });

  it('independent confirmations shrink it towards min', () => {
    const fd = make();
    fd.step(suspect('b', 0, 'c'), 1_000);
    fd.step(suspect('b', 0, 'c'), 1_500); // the same accuser again: no change
    expect(fd.get('b')?.suspicion).toEqual({ confirmations: 0, deadlineMs: 25_000 });
    const fx = fd.step(suspect('b', 0, 'd'), 2_000);
    expect(fd.get('b')?.suspicion).toEqual({ confirmations: 1, deadlineMs: 1_000 + 11_381 });
    expect(fd.stats().pendingGossip).toBeGreaterThan(0);
    expect(fx).toEqual([]);
    fd.step(suspect('b', 0, 'e'), 2_500);
    expect(fd.get('b')?.suspicion).toEqual({ confirmations: 2, deadlineMs: 5_000 });
  });

  it('a refutation carried by the last-chance ack saves the member', () => {
    const fd = make();
    fd.step(suspect('b', 0, 'c'), 0);
    const last = only(fd.step({ kind: 'tick' }, 24_000), 'send-ping').find((e) => e.to === 'b');
    expect(last).toBeDefined();
    fd.step(alive('b', 1), 24_010); // piggybacked on the ack
    fd.step({ kind: 'ack', from: 'b', seq: last?.seq ?? 0 }, 24_010);
    const later = fd.step({ kind: 'tick' }, 24_500);
    expect(transitions(later)).not.toContain('b:suspect->dead');
    expect(fd.get('b')).toMatchObject({ status: 'alive', incarnation: 1 });
  });

  it('a suspicion at a newer incarnation starts over, giving the member the full time', () => {
    const fd = make();
    fd.step(suspect('b', 0, 'c'), 0);
    fd.step(suspect('b', 0, 'd'), 0);
    fd.step(suspect('b', 1, 'c'), 3_000);
    expect(fd.get('b')).toMatchObject({ status: 'suspect', incarnation: 1 });
    expect(fd.get('b')?.suspicion).toEqual({ confirmations: 0, deadlineMs: 27_000 });
  });
});

describe('buddy system', () => {
  it('a ping to a suspect tells it first', () => {
    const fd = make(['b']);
    fd.step(suspect('b', 0, 'c'), 0);
    const p = nextPing(fd);
    expect(p.to).toBe('b');
    const ping = only(p.fx, 'send-ping')[0];
    expect(ping?.piggyback[0]).toEqual(suspect('b', 0, 'a'));
  });

  it('an ack to a member we hold dead tells it so it can refute', () => {
    const fd = make();
    fd.step(dead('b', 0), 0);
    const fx = fd.step({ kind: 'ping', from: 'b', seq: 9 }, 1);
    expect(only(fx, 'send-ack')[0]).toMatchObject({ to: 'b', seq: 9 });
    expect(only(fx, 'send-ack')[0]?.piggyback[0]).toEqual(dead('b', 0, 'a'));
  });
});

describe('relaying ping-req', () => {
  it('pings the target for the asker and relays its ack', () => {
    const fd = make();
    const fx = fd.step({ kind: 'ping-req', from: 'c', seq: 77, target: 'b', timeoutMs: 300 }, 100);
    const [ping] = only(fx, 'send-ping');
    expect(ping?.to).toBe('b');
    const back = fd.step({ kind: 'ack', from: 'b', seq: ping?.seq ?? 0 }, 150);
    expect(only(back, 'send-ack').map((e) => [e.to, e.seq])).toEqual([['c', 77]]);
    expect(only(fd.step({ kind: 'tick' }, 400), 'send-nack')).toEqual([]);
  });

  it('nacks when the target stays silent', () => {
    const fd = make();
    fd.step({ kind: 'ping-req', from: 'c', seq: 77, target: 'b', timeoutMs: 300 }, 100);
    expect(fd.nextTickAtMs()).toBeLessThanOrEqual(400);
    const fx = fd.step({ kind: 'tick' }, 400);
    expect(only(fx, 'send-nack').map((e) => [e.to, e.seq])).toEqual([['c', 77]]);
  });

  it('caps how long a peer can keep a relay open', () => {
    const fd = make();
    fd.step({ kind: 'ping-req', from: 'c', seq: 1, target: 'b', timeoutMs: 1e12 }, 0);
    expect(only(fd.step({ kind: 'tick' }, 8_000), 'send-nack')).toHaveLength(1);
  });

  it('acks at once when it is the target', () => {
    const fd = make();
    const fx = fd.step({ kind: 'ping-req', from: 'c', seq: 5, target: 'a', timeoutMs: 300 }, 0);
    expect(only(fx, 'send-ack').map((e) => [e.to, e.seq])).toEqual([['c', 5]]);
    expect(only(fx, 'send-ping')).toEqual([]);
  });

  it('refuses relays beyond maxPendingRelays', () => {
    const fd = make(['b', 'c', 'd'], { ...LAN_PROFILE, maxPendingRelays: 1 });
    expect(
      only(fd.step({ kind: 'ping-req', from: 'c', seq: 1, target: 'b', timeoutMs: 300 }, 0), 'send-ping'),
    ).toHaveLength(1);
    expect(fd.step({ kind: 'ping-req', from: 'd', seq: 2, target: 'b', timeoutMs: 300 }, 0)).toEqual([]);
    expect(fd.stats().relaysRefused).toBe(1);
  });

  it('answers every ping', () => {
    const fd = make();
    const fx = fd.step({ kind: 'ping', from: 'z-unknown', seq: 3 }, 0);
    expect(only(fx, 'send-ack').map((e) => [e.to, e.seq])).toEqual([['z-unknown', 3]]);
  });
});

describe('gossip loop', () => {
  it('pushes news to gossipNodes members, and stays quiet without news', () => {
    const fd = make(['b', 'c', 'd', 'e', 'f']);
    nextPing(fd); // first tick done; our own alive went out with it
    while (fd.stats().pendingGossip > 0) fd.step({ kind: 'tick' }, fd.nextTickAtMs());
    const quiet = fd.step({ kind: 'tick' }, fd.nextTickAtMs());
    expect(only(quiet, 'send-gossip')).toEqual([]);
    const t = fd.nextTickAtMs() - 1;
    fd.step(suspect('b', 0, 'c'), t);
    expect(fd.nextTickAtMs()).toBe(t);
    const fx = fd.step({ kind: 'tick' }, t);
    const gossip = only(fx, 'send-gossip');
    expect(gossip).toHaveLength(3);
    expect(new Set(gossip.map((g) => g.to)).size).toBe(3);
    for (const g of gossip) expect(g.piggyback.some((m) => m.kind === 'suspect' && m.id === 'b')).toBe(true);
  });

  it('sends each message at most retransmitMult × ceil(log10(N + 1)) times', () => {
    const fd = make(['b', 'c', 'd', 'e']); // N = 5: limit 4
    fd.step(dead('b', 0, 'c'), 0);
    let sends = 0;
    let at = 0;
    for (let i = 0; i < 40; i++) {
      at = Math.max(at, fd.nextTickAtMs());
      for (const e of fd.step({ kind: 'tick' }, at)) {
        if ('piggyback' in e) {
          const copies = e.kind === 'send-ping-req' ? e.via.length : 1;
          // The queued message, not the buddy copies told to b itself.
          if (e.piggyback.some((m) => m.kind === 'dead' && m.id === 'b' && m.from === 'c')) sends += copies;
        }
      }
      at += 1;
    }
    expect(sends).toBeGreaterThan(0);
    expect(sends).toBeLessThanOrEqual(4 + 2); // a ping-req packet may push one message past the limit
  });
});

describe('leaving', () => {
  it('announces left, stops accusing and refuting, and completes once the news is out', () => {
    const fd = make();
    const fx = fd.step({ kind: 'leave' }, 10);
    expect(transitions(fx)).toEqual(['a:alive->left']);
    expect(only(fx, 'broadcast').map((e) => e.message)).toEqual([left('a', 0)]);
    expect(fd.step(suspect('a', 0, 'b'), 11)).toEqual([]);
    expect(fd.incarnation).toBe(0);
    let done = false;
    let at = 11;
    for (let i = 0; i < 100 && !done; i++) {
      at = Math.max(at, fd.nextTickAtMs());
      const out = fd.step({ kind: 'tick' }, at);
      expect(transitions(out)).toEqual([]);
      expect(only(out, 'send-ping-req')).toEqual([]);
      done = only(out, 'leave-complete').length > 0;
    }
    expect(done).toBe(true);
    expect(fd.nextTickAtMs()).toBe(Number.POSITIVE_INFINITY);
    expect(fd.step({ kind: 'tick' }, at + 10_000)).toEqual([]);
  });

  it('alone, leaving completes at once', () => {
    const fd = make([]);
    expect(only(fd.step({ kind: 'leave' }, 0), 'leave-complete')).toHaveLength(1);
  });
});

describe('bounds and retention', () => {
  it('forgets dead members after deadRetentionMs; until then stale alive claims cannot revive them', () => {
    const fd = make();
    fd.step(dead('b', 0), 1_000);
    fd.step({ kind: 'tick' }, 30_999);
    fd.step(alive('b', 0), 30_999);
    expect(fd.get('b')?.status).toBe('dead');
    fd.step({ kind: 'tick' }, 31_000);
    expect(fd.get('b')).toBeUndefined();
  });

  it('refuses members beyond maxMembers', () => {
    const fd = make(['b'], { ...LAN_PROFILE, maxMembers: 2 });
    const fx = fd.step({ kind: 'join', member: { id: 'c', incarnation: 0, meta: null } }, 0);
    expect(fx).toEqual([
      { kind: 'rejected', input: 'alive', reason: 'the member table is full (2); raise maxMembers' },
    ]);
    expect(fd.get('c')).toBeUndefined();
  });
});

describe('validation', () => {
  it.each<[string, unknown]>([
    ['a non-object', 'tick'],
    ['an unknown kind', { kind: 'exterminate' }],
    ['an empty member id', { kind: 'suspect', id: '', incarnation: 0, from: 'c' }],
    ['an over-long member id', { kind: 'alive', id: 'x'.repeat(300), incarnation: 0, meta: null }],
    ['a negative incarnation', { kind: 'dead', id: 'b', incarnation: -1, from: 'c' }],
    ['a fractional incarnation', { kind: 'alive', id: 'b', incarnation: 0.5, meta: null }],
    ['oversized metadata', { kind: 'alive', id: 'b', incarnation: 9, meta: 'x'.repeat(5_000) }],
    ['a ping without seq', { kind: 'ping', from: 'b' }],
    [
      'a ping-req with a negative timeout',
      { kind: 'ping-req', from: 'b', seq: 1, target: 'c', timeoutMs: -1 },
    ],
    ['members-seen that is not a list', { kind: 'members-seen', members: { id: 'q' } }],
    ['refute-needed with a string', { kind: 'refute-needed', incarnation: '7' }],
  ])('%s from a peer is refused, counted and changes nothing', (_name, input) => {
    const fd = make();
    const before = fd.members();
    const fx = fd.step(input as MembershipInput, 50);
    expect(fx).toHaveLength(1);
    expect(fx[0]?.kind).toBe('rejected');
    expect(fd.stats().rejected).toBe(1);
    expect(fd.members()).toEqual(before);
    expect(fd.incarnation).toBe(0);
  });

  it('one bad record in members-seen is refused without hiding the others', () => {
    const fd = make();
    const fx = fd.step(
      {
        kind: 'members-seen',
        members: [
          { id: 'q', incarnation: 0, meta: null },
          { id: '', incarnation: 0, meta: null },
          { id: 'r', incarnation: -3, meta: null },
        ],
      },
      5,
    );
    expect(transitions(fx)).toEqual(['q:new->alive']);
    expect(only(fx, 'rejected')).toHaveLength(2);
    expect(fd.stats().rejected).toBe(2);
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])(
    'a clock reading of %s is local misuse: it throws',
    (now) => {
      const fd = make();
      const before = fd.members();
      expect(() => fd.step({ kind: 'tick' }, now)).toThrow(SmacError);
      expect(fd.members()).toEqual(before);
    },
  );

  it('time going backwards throws and changes nothing', () => {
    const fd = make();
    fd.step({ kind: 'tick' }, 1_000);
    const before = fd.members();
    let err: unknown;
    try {
      fd.step(suspect('b', 0), 999);
    } catch (e) {
      err = e;
    }
    expect((err as SmacError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as SmacError).message).toContain('monotonic clock');
    expect(fd.members()).toEqual(before);
  });

  it.each<[string, () => FailureDetector]>([
    [
      'an empty id',
      () => new FailureDetector({ id: '', incarnation: 0, meta: null }, LAN_PROFILE, Math.random),
    ],
    [
      'a negative incarnation',
      () => new FailureDetector({ id: 'a', incarnation: -1, meta: null }, LAN_PROFILE, Math.random),
    ],
    [
      'missing metadata',
      () => new FailureDetector({ id: 'a', incarnation: 0 } as never, LAN_PROFILE, Math.random),
    ],
    [
      'a bad config',
      () =>
        new FailureDetector(
          { id: 'a', incarnation: 0, meta: null },
          { ...LAN_PROFILE, probeTimeoutMs: 5_000 },
          Math.random,
        ),
    ],
    [
      'no random source',
      () => new FailureDetector({ id: 'a', incarnation: 0, meta: null }, LAN_PROFILE, undefined as never),
    ],
  ])('the constructor refuses %s', (_name, build) => {
    expect(build).toThrow(SmacError);
  });

  it('survives any sequence of remote inputs: never throws, keeps its invariants', () => {
    const ids = ['a', 'b', 'c', 'd', ''];
    const id = fc.constantFrom(...ids);
    const inc = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant(-1));
    const input: fc.Arbitrary<unknown> = fc.oneof(
      fc.constant({ kind: 'tick' }),
      fc.record({ kind: fc.constant('alive'), id, incarnation: inc, meta: fc.constantFrom(null, META, 'x') }),
      fc.record({ kind: fc.constantFrom('suspect', 'dead'), id, incarnation: inc, from: id }),
      fc.record({ kind: fc.constant('left'), id, incarnation: inc }),
      fc.record({
        kind: fc.constantFrom('ping', 'ack', 'nack'),
        from: id,
        seq: fc.integer({ min: -1, max: 12 }),
      }),
      fc.record({
        kind: fc.constant('ping-req'),
        from: id,
        seq: fc.nat(20),
        target: id,
        timeoutMs: fc.integer({ min: -5, max: 2_000 }),
      }),
      fc.record({ kind: fc.constant('refute-needed'), incarnation: inc }),
      fc.record({
        kind: fc.constant('join'),
        member: fc.record({ id, incarnation: inc, meta: fc.constant(null) }),
      }),
      fc.constant({ kind: 'leave' }),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(input, fc.nat(700)), { maxLength: 80 }), fc.nat(1000), (steps, seed) => {
        const fd = make(['b', 'c', 'd'], LAN_PROFILE, seed);
        let now = 0;
        let inc = fd.incarnation;
        for (const [raw, dt] of steps) {
          now += dt;
          const fx = fd.step(raw as MembershipInput, now);
          if ((raw as { kind?: unknown } | null)?.kind === 'tick')
            expect(fd.nextTickAtMs()).toBeGreaterThan(now);
          expect(fd.incarnation).toBeGreaterThanOrEqual(inc);
          inc = fd.incarnation;
          for (const e of only(fx, 'status-changed')) expect(e.from).not.toBe(e.to);
          for (const m of fd.members()) expect(['alive', 'suspect', 'dead', 'left']).toContain(m.status);
          expect(fd.self.status === 'alive' || fd.self.status === 'left').toBe(true);
          expect(fd.healthScore).toBeLessThan(LAN_PROFILE.awarenessMaxMultiplier);
        }
      }),
      { numRuns: 200 },
    );
  });
});
