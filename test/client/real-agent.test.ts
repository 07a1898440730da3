// The SDK against a real agent (runAgent: libp2p, SQLite, REST on a Unix socket): objects,
// members, and a watch that resumes from its cursor — with the changes made meanwhile, or with
// a fresh snapshot once the log was compacted past the cursor.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from '../../src/agent/run.js';
import { SmacClient, type WatchEvent } from '../../src/client/client.js';
import { quiet, testConfig, waitFor } from '../agent/helpers.js';

let running: RunningAgent | undefined;
afterEach(async () => {
  await running?.stop();
  if (running) rmSync(running.agent.config.dataDir, { recursive: true, force: true });
  running = undefined;
});

async function next(it: AsyncIterator<WatchEvent>): Promise<WatchEvent> {
  const r = await it.next();
  if (r.done) throw new Error('the watch ended');
  return r.value;
}

describe('SDK against a real agent', () => {
  it('reads and writes over the Unix socket (mode 0660) and lists members', async () => {
    const config = testConfig({ apiPort: 0, snapshotEveryEvents: 10 });
    running = await runAgent(config, { logger: quiet });
    const socketPath = join(config.dataDir, 'smac.sock');
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    const client = new SmacClient({ socketPath });
    await client.op('pn-counter', 'app/hits', { kind: 'increment', by: 3 });
    expect((await client.read('pn-counter', 'app/hits')).value).toBe(3);
    const m = await client.members();
    expect(m.members.map((x) => [x.id, x.status])).toEqual([[running.agent.peerId, 'alive']]);
    // The same over TCP on loopback, with the token the agent generated in its data directory.
    expect(running.api.tokenFile).toBe(join(config.dataDir, 'api.token'));
    const token = readFileSync(running.api.tokenFile!, 'utf8').trim();
    const tcp = new SmacClient({ url: running.api.tcp!.url, token });
    expect((await tcp.read('pn-counter', 'app/hits')).value).toBe(3);
    tcp.close();
    client.close();
  });

  it('resumes a watch from its cursor, and gets a snapshot once compacted past it', async () => {
    const config = testConfig({ apiHost: '', snapshotEveryEvents: 10 });
    running = await runAgent(config, { logger: quiet });
    const client = new SmacClient({ socketPath: join(config.dataDir, 'smac.sock') });
    await client.op('lww-register', 'w/a', { kind: 'set', value: 1 });
    const first = client.watch({ prefix: 'w/' });
    const it1 = first[Symbol.asyncIterator]();
    const snap = await next(it1);
    expect(snap.kind).toBe('snapshot');
    await client.op('lww-register', 'w/a', { kind: 'set', value: 2 });
    const change = await next(it1);
    expect(change).toMatchObject({ kind: 'change', key: 'w/a', value: 2 });
    const cursor = change.cursor;
    first.close();
    // Missed while disconnected: one change under the prefix, one outside it.
    await client.op('lww-register', 'w/b', { kind: 'set', value: 'x' });
    await client.op('lww-register', 'other', { kind: 'set', value: 'y' });
    const resumed = client.watch({ prefix: 'w/', cursor });
    const it2 = resumed[Symbol.asyncIterator]();
    expect(await next(it2)).toMatchObject({ kind: 'change', key: 'w/b', value: 'x' });
    resumed.close();
    // Compact the log past the cursor: resuming now starts with a fresh snapshot.
    for (let i = 0; i < 20; i++) await client.op('pn-counter', 'filler', { kind: 'increment' });
    await waitFor(() => running!.agent.status().counters.compactions > 0, 'a compaction');
    const late = client.watch({ prefix: 'w/', cursor });
    const it3 = late[Symbol.asyncIterator]();
    const again = await next(it3);
    expect(again.kind).toBe('snapshot');
    if (again.kind === 'snapshot') expect(again.objects.map((o) => o.key)).toEqual(['w/a', 'w/b']);
    late.close();
    client.close();
  });
});
