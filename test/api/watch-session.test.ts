/**
 * The watch engine without sockets: snapshots, live changes, resume from a cursor, a snapshot
 * when the cursor is behind compaction, no event without a real change, and recovery from
 * changes the agent applied without a notice (an installed snapshot).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/api/cursor.js';
import type { ChangeData, SnapshotData } from '../../src/api/schemas.js';
import { WatchSession } from '../../src/api/watch-session.js';
import { Replica } from '../../src/core/replica.js';
import { ReplicaAgent } from './helpers.js';

type Sent =
  { kind: 'snapshot'; id: string; data: SnapshotData } | { kind: 'change'; id: string; data: ChangeData };

function watch(agent: ReplicaAgent, prefix: string, cursor?: string) {
  const sent: Sent[] = [];
  const session = new WatchSession(agent, prefix, {
    snapshot: (id, data) => sent.push({ kind: 'snapshot', id, data }),
    change: (id, data) => sent.push({ kind: 'change', id, data }),
  });
  session.start(cursor === undefined ? undefined : decodeCursor(cursor));
  return { sent, session };
}

const inc = (key: string, by = 1) => ({ type: 'pn-counter', key, op: { kind: 'increment', by } });

describe('WatchSession', () => {
  it('opens with a snapshot of the prefix, then sends live changes with exact cursors', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('app/a'), inc('other/x')]);
    const { sent, session } = watch(agent, 'app/');
    expect(sent).toEqual([
      {
        kind: 'snapshot',
        id: encodeCursor(agent.clock()),
        data: { objects: [{ type: 'pn-counter', key: 'app/a', value: 1 }], clock: { 'peer-a': 1 } },
      },
    ]);
    await agent.write([inc('app/a', 2)]);
    await agent.write([inc('other/x')]); // outside the prefix: nothing
    await agent.write([{ type: 'aw-set', key: 'app/s', op: { kind: 'add', value: 'v' } }]);
    expect(sent.slice(1)).toEqual([
      {
        kind: 'change',
        id: encodeCursor(new Map([['peer-a', 2]])),
        data: { type: 'pn-counter', key: 'app/a', value: 3, origin: 'peer-a', seq: 2 },
      },
      {
        kind: 'change',
        id: encodeCursor(new Map([['peer-a', 4]])),
        data: { type: 'aw-set', key: 'app/s', value: ['v'], origin: 'peer-a', seq: 4 },
      },
    ]);
    expect(session.position()).toBe(encodeCursor(agent.clock()));
    session.stop();
    expect(agent.listenerCount()).toBe(0);
  });

  it('sends nothing for a write that changes no value under the prefix', async () => {
    const agent = new ReplicaAgent();
    await agent.write([{ type: 'aw-set', key: 's', op: { kind: 'add', value: 1 } }]);
    const { sent } = watch(agent, '');
    await agent.write([{ type: 'aw-set', key: 's', op: { kind: 'add', value: 1 } }]); // already there
    await agent.write([
      { type: 'ew-flag', key: 'f', op: { kind: 'disable' } },
      { type: 'ew-flag', key: 'f', op: { kind: 'delete' } },
    ]);
    await agent.write([{ type: 'lww-register', key: 'r', op: { kind: 'set', value: { b: 1, a: 2 } } }]);
    await agent.write([{ type: 'lww-register', key: 'r', op: { kind: 'set', value: { a: 2, b: 1 } } }]); // same JSON
    expect(sent.map((s) => s.kind === 'change' && s.data.key)).toEqual([false, 'r']);
  });

  it('reports a delete once, and nothing for an object the client never saw', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('a')]);
    const { sent } = watch(agent, '');
    await agent.write([{ type: 'pn-counter', key: 'a', op: { kind: 'delete' } }]);
    await agent.write([inc('b'), { type: 'pn-counter', key: 'b', op: { kind: 'delete' } }]);
    expect(sent.slice(1).map((s) => s.data)).toEqual([
      { type: 'pn-counter', key: 'a', deleted: true, origin: 'peer-a', seq: 2 },
    ]);
  });

  it('gives every change of a multi-object event but the last the cursor from before it', async () => {
    const agent = new ReplicaAgent();
    const { sent } = watch(agent, '');
    const before = sent[0]!.id;
    await agent.write([inc('a'), inc('b'), inc('c')]);
    expect(sent.slice(1).map((s) => s.id)).toEqual([before, before, encodeCursor(agent.clock())]);
  });

  it('flushes only after a complete group of frames, never in the middle of one', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('a')]);
    const log: string[] = [];
    const session = new WatchSession(agent, '', {
      snapshot: () => log.push('snapshot'),
      change: (_id, d) => log.push(d.key),
      flush: () => log.push('flush'),
    });
    session.start(undefined);
    await agent.write([inc('a'), inc('b')]);
    await agent.write([
      { type: 'aw-set', key: 'none', op: { kind: 'clear' } },
      { type: 'aw-set', key: 'none', op: { kind: 'delete' } },
    ]);
    expect(log).toEqual(['snapshot', 'flush', 'a', 'b', 'flush']);
  });

  it('resumes from a cursor with what changed after it, current values, no snapshot', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('a')]);
    const first = watch(agent, '');
    await agent.write([inc('a')]);
    const cursor = first.sent[1]!.id;
    first.session.stop();
    await agent.write([inc('b', 5)]);
    await agent.write([inc('a', 10)]);
    await agent.write([{ type: 'pn-counter', key: 'a', op: { kind: 'delete' } }]);
    await agent.write([inc('zz')]);

    const { sent } = watch(agent, '', cursor);
    expect(sent.map((s) => s.kind)).toEqual(['change', 'change', 'change']);
    expect(sent.map((s) => s.data)).toEqual([
      { type: 'pn-counter', key: 'b', value: 5 },
      { type: 'pn-counter', key: 'a', deleted: true },
      { type: 'pn-counter', key: 'zz', value: 1 },
    ]);
    expect(sent.map((s) => s.id)).toEqual([cursor, cursor, encodeCursor(agent.clock())]);
  });

  it('sends nothing when resuming from the current cursor', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('a')]);
    const { sent } = watch(agent, '', encodeCursor(agent.clock()));
    expect(sent).toEqual([]);
  });

  it('sends a fresh snapshot when the cursor is behind compaction or ahead of the agent', async () => {
    const agent = new ReplicaAgent();
    await agent.write([inc('a')]);
    const old = encodeCursor(agent.clock());
    await agent.write([inc('b')]);
    agent.compact();
    const behind = watch(agent, '', old);
    expect(behind.sent.map((s) => s.kind)).toEqual(['snapshot']);
    expect(behind.sent[0]!.id).toBe(encodeCursor(agent.clock()));

    const ahead = watch(agent, '', encodeCursor(new Map([['peer-a', 99]])));
    expect(ahead.sent.map((s) => s.kind)).toEqual(['snapshot']);
    const foreign = watch(agent, '', encodeCursor(new Map([['peer-q', 1]])));
    expect(foreign.sent.map((s) => s.kind)).toEqual(['snapshot']);
  });

  it('catches up on changes applied without a notice: at the next event, or at the heartbeat check', async () => {
    const agent = new ReplicaAgent('peer-a');
    const other = new Replica({ id: 'peer-b' });
    const e1 = other.step({ kind: 'local', ops: [inc('x', 7)] }, 1).event!;
    const e2 = other.step({ kind: 'local', ops: [inc('y', 1)] }, 2).event!;
    await agent.write([inc('mine')]);
    const { sent, session } = watch(agent, '');

    // A snapshot covering e1 arrives silently (sync installs it without a notice).
    const ours = new Replica({ id: 'peer-d' });
    ours.install(agent.replica.snapshot());
    ours.step({ kind: 'remote', event: e1, bytes: 1 }, 4);
    agent.installSilently(ours.snapshot());
    agent.compact(); // the log does not cover the install: a resync needs a snapshot
    session.check();
    expect(sent.map((s) => s.kind)).toEqual(['snapshot', 'snapshot']);
    expect(sent[1]!.kind === 'snapshot' && sent[1]!.data.objects.map((o) => o.key)).toEqual(['mine', 'x']);

    // Then e2 arrives normally and is sent live.
    agent.deliver(e2);
    expect(sent[2]).toMatchObject({ kind: 'change', data: { key: 'y', value: 1, origin: 'peer-b', seq: 2 } });
    expect(session.position()).toBe(encodeCursor(agent.clock()));
  });

  it('resyncs when an event arrives out of step with its cursor (a skipped event before it)', () => {
    const agent = new ReplicaAgent('peer-a');
    const other = new Replica({ id: 'peer-b' });
    const e1 = other.step({ kind: 'local', ops: [inc('x', 7)] }, 1).event!;
    const e2 = other.step({ kind: 'local', ops: [inc('y', 1)] }, 2).event!;
    const { sent, session } = watch(agent, '');
    // An event whose ops do not validate is delivered as a no-op, without a notice.
    agent.deliver({ ...e1, ops: [{ garbage: true }] });
    expect(agent.clock().get('peer-b')).toBe(1);
    expect(sent).toHaveLength(1);
    agent.deliver(e2);
    // seq 2 is not next for a cursor at peer-b:0: the session resyncs through changesSince.
    expect(sent[1]).toEqual({
      kind: 'change',
      id: encodeCursor(agent.clock()),
      data: { type: 'pn-counter', key: 'y', value: 1 },
    });
    expect(session.position()).toBe(encodeCursor(agent.clock()));
  });

  it('a listener that throws closes the watch, never the agent', async () => {
    const agent = new ReplicaAgent();
    const failures: unknown[] = [];
    const session = new WatchSession(
      agent,
      '',
      {
        snapshot: () => undefined,
        change: () => {
          throw new Error('sink broke');
        },
      },
      (e) => failures.push(e),
    );
    session.start(undefined);
    await expect(agent.write([inc('a')])).resolves.toMatchObject({ seq: 1 });
    expect(failures).toHaveLength(1);
    expect(agent.listenerCount()).toBe(0);
    await expect(agent.write([inc('a')])).resolves.toMatchObject({ seq: 2 });
  });

  it('a client that applies what it is sent ends with the agent state, whatever it resumes from (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.constantFrom('p/a', 'p/b', 'p/c', 'q/d'),
            op: fc.constantFrom(
              { kind: 'add', value: 1 },
              { kind: 'add', value: 2 },
              { kind: 'remove', value: 1 },
              { kind: 'delete' },
              { kind: 'clear' },
            ),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        fc.nat(25),
        fc.boolean(),
        async (writes, cut, compactAtCut) => {
          const agent = new ReplicaAgent();
          const view = new Map<string, unknown>();
          const apply = (s: Sent): void => {
            if (s.kind === 'snapshot') {
              view.clear();
              for (const o of s.data.objects) view.set(o.key, o.value);
            } else if (s.data.deleted) view.delete(s.data.key);
            else view.set(s.data.key, s.data.value);
          };
          let w = watch(agent, 'p/');
          let applied = 0;
          for (const [i, x] of writes.entries()) {
            if (i === cut) {
              // Disconnect: the client keeps the last cursor it applied and resumes.
              for (; applied < w.sent.length; applied++) apply(w.sent[applied]!);
              const cursor = w.sent.at(-1)?.id;
              w.session.stop();
              if (compactAtCut) agent.compact();
              await agent.write([{ type: 'aw-set', key: x.key, op: x.op }]);
              w = watch(agent, 'p/', cursor);
              applied = 0;
              continue;
            }
            await agent.write([{ type: 'aw-set', key: x.key, op: x.op }]);
          }
          for (; applied < w.sent.length; applied++) apply(w.sent[applied]!);
          const expected = new Map(agent.list('p/').map((o) => [o.key, o.value]));
          expect(view).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
