// Durability and recovery: restart keeps identity, state and sequence numbers (also after a
// compaction), and kill -9 of an agent process during writes loses no acknowledged write.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { quiet, startCluster, stopAll, tempDir, testConfig, waitConverged, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

const inc = { type: 'pn-counter', key: 'n', op: { kind: 'increment' } };

describe('restart', () => {
  it('recovers identity, state and the sequence after a graceful stop, with or without compaction', async () => {
    for (const snapshotEveryEvents of [1_000_000, 5]) {
      const config = testConfig({ snapshotEveryEvents });
      const a = await Agent.start(config, { logger: quiet });
      for (let i = 0; i < 30; i++) await a.write([inc]);
      await waitFor(() => snapshotEveryEvents > 100 || a.status().counters.compactions > 0, 'a compaction');
      const id = a.peerId;
      const lastSeq = a.clock().get(id) ?? 0;
      await a.stop();
      const b = await Agent.start(config, { logger: quiet });
      agents.push(b);
      expect(b.peerId).toBe(id);
      expect(b.read('pn-counter', 'n')?.value).toBe(30);
      expect((await b.write([inc])).seq).toBeGreaterThan(lastSeq);
    }
  });
});

const fixture = join(import.meta.dirname, 'fixtures', 'writer.mjs');
const built = join(import.meta.dirname, '..', '..', 'dist', 'agent', 'agent.js');

/** Runs the writer fixture; resolves with the lines it printed once `until` says so. */
function runWriter(dataDir: string, join: string[], mode: 'write' | 'read') {
  const child = spawn(process.execPath, [fixture, dataDir, mode, ...join], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = createInterface({ input: child.stdout });
  return { child, lines };
}

describe('kill -9', () => {
  it('every acknowledged write survives kill -9 of the agent process, and the cluster converges', async () => {
    expect(existsSync(built), 'dist/ is missing: run `npm run build` (npm ci does it)').toBe(true);
    agents = await startCluster(1);
    const peer = agents[0]!;
    const dataDir = tempDir();
    const writer = runWriter(dataDir, peer.addresses(), 'write');
    let acked = 0;
    let peerId = '';
    let origin = '';
    await new Promise<void>((resolve, reject) => {
      writer.lines.on('line', (line) => {
        const msg = JSON.parse(line) as { ack?: number; peerId?: string; origin?: string };
        if (msg.peerId) peerId = msg.peerId;
        if (msg.origin) origin = msg.origin;
        if (msg.ack !== undefined) acked = msg.ack;
        if (acked >= 300) {
          writer.child.kill('SIGKILL');
          resolve();
        }
      });
      writer.child.once('exit', (code) => {
        if (acked < 300) reject(new Error(`the writer exited early with ${code}`));
      });
    });
    await new Promise((r) => writer.child.once('exit', r));
    // Restarted on the same data directory: every acknowledged increment is there.
    const reader = runWriter(dataDir, peer.addresses(), 'read');
    try {
      type State = { value: number; seq: number; peerId: string; origin: string };
      const state = await new Promise<State>((resolve) => {
        reader.lines.on('line', (line) => {
          const msg = JSON.parse(line) as Partial<State>;
          if (msg.value !== undefined) resolve(msg as State);
        });
      });
      expect(state.peerId).toBe(peerId);
      // An unclean stop under storeSync normal: a new epoch (a power loss might have rolled
      // back published events; their (origin, seq) pairs must never be reused).
      expect(origin).not.toBe('');
      expect(state.origin).not.toBe(origin);
      expect(state.value).toBeGreaterThanOrEqual(acked);
      expect(state.seq).toBeGreaterThanOrEqual(state.value); // plus its member-record events
      // The surviving peer converges on what the restarted agent holds.
      await waitFor(() => (peer.read('pn-counter', 'n')?.value ?? 0) === state.value, 'the peer to catch up');
    } finally {
      reader.child.kill('SIGKILL');
      writer.child.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('late joiner', () => {
  it('receives the full state, also after the log was compacted (snapshot + later events)', async () => {
    agents = await startCluster(2, { snapshotEveryEvents: 20 });
    for (let i = 0; i < 100; i++)
      await agents[i % 2]!.write([inc, { type: 'aw-set', key: 's', op: { kind: 'add', value: i } }]);
    await waitConverged(agents);
    await waitFor(() => Object.keys(agents[0]!.status().log.compacted).length > 0, 'the log to be compacted');
    const late = await Agent.start(testConfig({ join: agents[0]!.addresses(), snapshotEveryEvents: 20 }), {
      logger: quiet,
    });
    agents.push(late);
    await waitConverged(agents);
    expect(late.read('pn-counter', 'n')?.value).toBe(100);
    expect((late.read('aw-set', 's')?.value as unknown[]).length).toBe(100);
    expect(late.status().counters.snapshotsInstalled).toBeGreaterThan(0);
  });
});

describe('compaction under steady load', () => {
  it('keeps the log bounded while three agents write, and the cluster still converges', async () => {
    agents = await startCluster(3, { snapshotEveryEvents: 40 });
    let maxLog = 0;
    for (let round = 0; round < 100; round++) {
      await Promise.all(agents.map((a) => a.write([inc])));
      if (round % 10 === 9) {
        await waitConverged(agents);
        // Give heartbeats a moment to carry the new clocks, so stability can advance.
        await new Promise((r) => setTimeout(r, 300));
        maxLog = Math.max(maxLog, ...agents.map((a) => a.status().log.events));
      }
    }
    await waitConverged(agents);
    expect(agents[0]!.read('pn-counter', 'n')?.value).toBe(300);
    for (const a of agents) expect(a.status().counters.compactions).toBeGreaterThan(0);
    // 300 events were written; without compaction every log would hold all of them.
    expect(maxLog).toBeLessThan(150);
  });
});

describe('changes since a cursor', () => {
  it('lists the objects touched after a clock, and asks for a snapshot once the log was compacted past it', async () => {
    agents = await startCluster(1, { snapshotEveryEvents: 10 });
    const a = agents[0]!;
    await a.write([inc]);
    const cursor = a.clock();
    await a.write([{ type: 'aw-set', key: 's', op: { kind: 'add', value: 1 } }]);
    await a.write([inc, { type: 'lww-register', key: 'r', op: { kind: 'set', value: 1 } }]);
    expect(a.changesSince(cursor)).toEqual({
      snapshotNeeded: false,
      objects: [
        { type: 'aw-set', key: 's' },
        { type: 'pn-counter', key: 'n' },
        { type: 'lww-register', key: 'r' },
      ],
    });
    expect(a.changesSince(a.clock()).objects).toEqual([]);
    for (let i = 0; i < 20; i++) await a.write([inc]);
    await waitFor(() => a.status().counters.compactions > 0, 'a compaction');
    expect(a.changesSince(cursor).snapshotNeeded).toBe(true);
  });
});
