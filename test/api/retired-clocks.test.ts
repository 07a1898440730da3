// The API's clocks (reads, lists, watch snapshots and cursors) leave retired epochs out, as
// status, heartbeats and sync already do (issue 7, "Retired epochs are pruned from clocks once
// reaped"; src/core/retired-epochs.ts). Before, every reaped epoch stayed in them for good. A
// cursor a client sends back without the epoch must still resume exactly (the witness rule), and
// an old cursor that still names it must work too.
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiApp } from '../../src/api/app.js';
import { decodeCursor, encodeCursor } from '../../src/api/cursor.js';
import type { ChangeData, SnapshotData } from '../../src/api/schemas.js';
import { createApiApp } from '../../src/api/server.js';
import { WatchSession } from '../../src/api/watch-session.js';
import { reapedTrio } from '../core/reap-node.js';
import { ReplicaAgent } from './helpers.js';

const A = 'a~1';
const B = 'b~1';
const P = 'p~1';
const inc = (by = 1) => ({ type: 'pn-counter', key: 'app/c', op: { kind: 'increment', by } });

/** p wrote twice and died; a and b reaped it at cut 2. The API agent holds a's state. */
function reapedAgent(): ReplicaAgent {
  const { a } = reapedTrio('app/c');
  expect(a.replica.reapOf(P)?.cut).toBe(2);
  const agent = new ReplicaAgent('z~1');
  agent.installSilently(a.replica.snapshot());
  agent.compact(); // its log starts here: a cursor it cannot place needs a snapshot
  expect(agent.clock().get(P)).toBe(2);
  return agent;
}

type Sent =
  { kind: 'snapshot'; id: string; data: SnapshotData } | { kind: 'change'; id: string; data: ChangeData };

function watch(agent: ReplicaAgent, cursor?: string): { sent: Sent[]; session: WatchSession } {
  const sent: Sent[] = [];
  const session = new WatchSession(agent, 'app/', {
    snapshot: (id, data) => sent.push({ kind: 'snapshot', id, data }),
    change: (id, data) => sent.push({ kind: 'change', id, data }),
  });
  session.start(cursor === undefined ? undefined : decodeCursor(cursor));
  return { sent, session };
}

let app: ApiApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('API clocks without retired epochs', () => {
  it('reads and lists show the clock without the retired epoch', async () => {
    const agent = reapedAgent();
    app = await createApiApp({ agent });
    const read = await app.inject({ method: 'GET', url: '/v1/objects/pn-counter/app/c' });
    expect(read.statusCode).toBe(200);
    expect(read.json<{ value: number }>().value).toBe(13);
    expect(read.json<{ clock: Record<string, number> }>().clock[P]).toBeUndefined();
    const list = await app.inject({ method: 'GET', url: '/v1/objects?prefix=app/' });
    expect(list.json<{ clock: Record<string, number> }>().clock).toEqual({ [A]: 2, [B]: 1 });
  });

  it('watch snapshots and cursors leave it out; a cursor without it resumes with the changes only', async () => {
    const agent = reapedAgent();
    const first = watch(agent);
    const [snap] = first.sent;
    expect(snap?.kind).toBe('snapshot');
    expect(snap?.data).toMatchObject({ clock: { [A]: 2, [B]: 1 } });
    expect(decodeCursor(snap?.id ?? '').has(P)).toBe(false);
    first.session.stop();
    // Resumed from that cursor after a write: just the change (no snapshot), its cursor pruned too.
    await agent.write([inc(100)]);
    const resumed = watch(agent, snap?.id);
    expect(resumed.sent.map((s) => s.kind)).toEqual(['change']);
    expect(resumed.sent[0]?.data).toMatchObject({ key: 'app/c', value: 113 });
    expect(decodeCursor(resumed.sent[0]?.id ?? '').has(P)).toBe(false);
    resumed.session.stop();
  });

  it('an old cursor that still names the retired epoch at its cut resumes exactly too', async () => {
    const agent = reapedAgent();
    const old = encodeCursor(agent.clock()); // as handed out before the epoch was pruned
    expect(decodeCursor(old).get(P)).toBe(2);
    await agent.write([inc(100)]);
    const { sent, session } = watch(agent, old);
    expect(sent.map((s) => s.kind)).toEqual(['change']);
    expect(decodeCursor(sent[0]?.id ?? '').has(P)).toBe(false);
    session.stop();
  });

  it('a cursor lacking the epoch that does not prove it holds it gets a snapshot (never skips events)', () => {
    const agent = reapedAgent();
    // Holds nothing of the reports (the witness): it may never have had p's events.
    const { sent, session } = watch(agent, encodeCursor(new Map([[B, 1]])));
    expect(sent.map((s) => s.kind)).toEqual(['snapshot']);
    session.stop();
  });
});
