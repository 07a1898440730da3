// A /v1/batch under the 4 MiB body limit whose event is over the event limit (4 MiB − 64 KiB)
// against a real agent (runAgent: libp2p, SQLite, REST over TCP on loopback): the request gets
// 413 with a stable code, nothing of the batch is applied or logged, and the agent keeps
// serving writes (issue 7, "One request can kill an agent").
import { readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from '../../src/agent/run.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../src/api/server.js';
import { DEFAULT_EVENT_CODEC_LIMITS } from '../../src/core/codec/index.js';
import { Replica } from '../../src/core/replica.js';
import { quiet, testConfig } from '../agent/helpers.js';

let running: RunningAgent | undefined;
afterEach(async () => {
  await running?.stop();
  if (running) rmSync(running.agent.config.dataDir, { recursive: true, force: true });
  running = undefined;
});

async function post(url: string, token: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, json: await res.json() };
}

describe('a batch over the event limit', () => {
  it('is refused with 413 TOO_LARGE before it touches state, and the agent stays up', async () => {
    running = await runAgent(testConfig({ apiPort: 0, apiSocket: '' }), { logger: quiet });
    const url = running.api.tcp!.url;
    // The token the agent generated in its data directory.
    const token = readFileSync(running.api.tokenFile!, 'utf8').trim();
    const agent = running.agent;
    const before = agent.status();

    // 64 registers of 65,000-byte strings: the body fits the body limit, the event does not.
    const value = 'x'.repeat(65_000);
    const ops = Array.from({ length: 64 }, (_, i) => ({
      type: 'lww-register',
      key: `big/${i}`,
      op: { kind: 'set', value },
    }));
    const body = JSON.stringify({ ops });
    expect(body.length).toBeLessThan(DEFAULT_BODY_LIMIT_BYTES);
    expect(body.length).toBeGreaterThan(DEFAULT_EVENT_CODEC_LIMITS.maxEventBytes);

    const res = await post(url, token, body);
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ code: 'TOO_LARGE' });
    expect((res.json as { message: string }).message).toMatch(/limit/);

    // Nothing of it was applied, logged or counted.
    expect(agent.read('lww-register', 'big/0')).toBeUndefined();
    expect(agent.list('big/')).toEqual([]);
    const after = agent.status();
    expect(after.clock).toEqual(before.clock);
    expect(after.log.events).toBe(before.log.events);
    expect(after.counters.localEvents).toBe(before.counters.localEvents);

    // The agent is alive and its next write gets the next seq (no gap, no reuse).
    const ok = await post(
      url,
      token,
      JSON.stringify({ ops: [{ type: 'pn-counter', key: 'after/hits', op: { kind: 'increment', by: 2 } }] }),
    );
    expect(ok.status).toBe(200);
    const seqBefore = before.clock[agent.status().origin] ?? 0;
    expect(ok.json).toMatchObject({ seq: seqBefore + 1 });
    expect(agent.read('pn-counter', 'after/hits')?.value).toBe(2);
  }, 60_000);
});

describe('the core refuses an oversized local event before changing anything', () => {
  it('leaves state, clock and HLC as they were, including objects the batch touches twice', () => {
    const r = new Replica({ id: 'peer-a' });
    r.step({ kind: 'local', ops: [{ type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 1 } }] }, 1);
    const before = { snap: r.snapshot(), clock: r.clock(), hlc: r.hybridClock() };
    const value = 'y'.repeat(65_000);
    const ops: unknown[] = [
      { type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 5 } },
      { type: 'pn-counter', key: 'c', op: { kind: 'delete' } },
      ...Array.from({ length: 64 }, (_, i) => ({
        type: 'lww-register',
        key: `r/${i}`,
        op: { kind: 'set', value },
      })),
    ];
    expect(() => r.step({ kind: 'local', ops }, 2)).toThrow(/event limit/);
    expect(r.snapshot()).toEqual(before.snap);
    expect(r.clock()).toEqual(before.clock);
    expect(r.hybridClock()).toEqual(before.hlc);
    // A batch that fits still sees its own earlier ops on the same object.
    const ok = r.step(
      {
        kind: 'local',
        ops: [
          { type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 5 } },
          { type: 'pn-counter', key: 'c', op: { kind: 'delete' } },
          { type: 'pn-counter', key: 'c', op: { kind: 'increment', by: 2 } },
          { type: 'pn-counter', key: 'd', op: { kind: 'increment', by: 3 } },
        ],
      },
      3,
    );
    expect(ok.event?.seq).toBe(2);
    expect(ok.encoded).toBeInstanceOf(Uint8Array);
    expect(r.read('pn-counter', 'c')?.value).toBe(2);
    expect(r.read('pn-counter', 'd')?.value).toBe(3);
    // A peer applying the same event reaches the same state.
    const twin = new Replica({ id: 'peer-c' });
    twin.install(before.snap);
    twin.step({ kind: 'remote', event: ok.event!, bytes: 100 }, 4);
    expect(twin.snapshot().keyspace).toEqual(r.snapshot().keyspace);
  });
});
