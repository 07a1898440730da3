// What bounds the log of an agent that expects peers (join addresses or mDNS) and has reached
// none: nothing. It keeps its log rather than compact alone (that would fork it from its peers;
// test/agent/lone-joiner.test.ts), `maxLogEvents` has no dead member to reap early, so past it
// the agent says so once, loudly, and keeps waiting; status names the wait as a blocker.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Compactor, NO_MEMBER_YET } from '../../src/agent/compaction.js';
import { originOf, peerOfOrigin } from '../../src/core/origin.js';
import { Replica } from '../../src/core/replica.js';
import type { Store } from '../../src/store/store.js';
import { inc, NOW, receive, write } from '../support/replicas.js';

function lone(expectsPeers: boolean, logEvents: number) {
  const lines: string[] = [];
  const replica = new Replica({ id: originOf('a', 'e1') });
  for (let i = 0; i < 3; i++) write(replica, inc(1));
  const counters = { compactions: 0, reaps: 0 };
  const store = {
    getMeta: () => undefined,
    setMeta: () => undefined,
    latestSnapshot: () => undefined,
    logStats: () => ({ events: logEvents, lastPos: logEvents }),
    ownOpsCount: () => 0,
  } as unknown as Store;
  const compactor = new Compactor({
    self: 'a',
    store,
    replica: () => replica,
    log: pino({ level: 'error' }, { write: (s: string) => lines.push(s) }),
    now: () => NOW,
    snapshotEveryEvents: 20,
    reapAfterMs: 30_000,
    maxLogEvents: 100,
    expectsPeers,
    candidates: () => [...replica.clock().keys()].map(peerOfOrigin),
    isAlive: () => false,
    write: () => new Promise(() => undefined),
    counters,
  });
  return { compactor, counters, lines, replica };
}

describe('an agent that expects peers and has reached none', () => {
  it('keeps its log past maxLogEvents, says so once, and status names the wait', () => {
    const { compactor, counters, lines } = lone(true, 500);
    compactor.step();
    compactor.step();
    expect(counters.compactions).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('the log passed maxLogEvents while this agent has reached no member yet');
    expect(compactor.status().blockedBy).toEqual([
      { peerId: NO_MEMBER_YET, reason: 'no-member-yet', pinnedEvents: 500, silentForMs: undefined },
    ]);
  });

  it('stays quiet below maxLogEvents', () => {
    const { compactor, lines } = lone(true, 50);
    compactor.step();
    expect(lines).toEqual([]);
    expect(compactor.waitsForFirstMember()).toBe(true);
  });

  it('stops waiting once it holds an event of another member', () => {
    const { compactor, replica } = lone(true, 50);
    receive(replica, write(new Replica({ id: originOf('b', 'e1') }), inc(1)));
    expect(compactor.waitsForFirstMember()).toBe(false);
    expect(compactor.status().blockedBy.map((b) => b.reason)).not.toContain('no-member-yet');
  });

  it('does not wait when it expects no peers (a deliberate single node)', () => {
    const { compactor } = lone(false, 500);
    expect(compactor.waitsForFirstMember()).toBe(false);
    expect(compactor.status().blockedBy).toEqual([]);
  });
});
