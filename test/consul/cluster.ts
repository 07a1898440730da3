/**
 * Three agent processes for the third-party-client tests: `a` serves the Consul-compatible
 * listener on a free loopback port, `b` and `c` join it; all in region `eu`, with fast failure
 * detection (as test/e2e/cluster.test.ts), so that a SIGKILLed agent is dead within seconds.
 * The listener requires `a`'s API token (generated in its data directory) on loopback too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SmacClient } from '../../src/client/client.js';
import { type AgentProcess, BIN, startAgentProcess } from '../support/agent-process.js';

const MEMBERSHIP = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  suspicionMult: 6,
  suspicionMaxTimeoutMult: 3,
  /**
   * memberlist's floor (suspicionMult periods) plus the probe timeout that the last-chance ping
   * used to add after it: the time to refute that these tests were tuned with.
   */
  suspicionFloorMs: 1_300,
};

export interface ClusterAgent {
  readonly proc: AgentProcess;
  readonly client: SmacClient;
  readonly peerId: string;
}

export interface ConsulCluster {
  readonly a: ClusterAgent;
  readonly b: ClusterAgent;
  readonly c: ClusterAgent;
  /** The port of a's Consul listener, on 127.0.0.1. */
  readonly port: number;
  /** a's API token (`<data dir>/api.token`), which its Consul listener requires. */
  readonly token: string;
  stop(): void;
}

/** Probes until `ok` holds, within `timeoutMs`; the error shows the last answer. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  do {
    last = await probe().catch(() => undefined);
    if (last !== undefined && ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() <= deadline);
  throw new Error(`no ${what} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export async function startConsulCluster(): Promise<ConsulCluster> {
  expect(existsSync(BIN), 'dist/ is missing: run `npm run build`').toBe(true);
  const started: ClusterAgent[] = [];
  const start = async (join: string[], extra: string[] = []): Promise<ClusterAgent> => {
    const proc = await startAgentProcess([
      ...['--region', 'eu', '--sync-interval-ms', '300', '--heartbeat-interval-ms', '200'],
      ...['--membership', JSON.stringify(MEMBERSHIP)],
      ...join.flatMap((j) => ['--join', j]),
      ...extra,
    ]);
    const agent = { proc, client: new SmacClient({ socketPath: proc.socket }), peerId: proc.ready.peerId };
    started.push(agent);
    return agent;
  };
  const stop = (): void => {
    for (const x of started) {
      x.client.close();
      x.proc.kill();
    }
  };
  try {
    const a = await start([], ['--consul-addr', '127.0.0.1:0']);
    const url = (a.proc.ready as unknown as { consul?: string }).consul ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = readFileSync(join(a.proc.dir, 'api.token'), 'utf8').trim();
    // On loopback too, a request without the token is refused.
    const refused = await fetch(`${url}/v1/agent/self`);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/^ACL not found/);
    const b = await start(a.proc.ready.addresses);
    const c = await start(a.proc.ready.addresses);
    for (const x of [a, b, c])
      await eventually(
        'three alive members',
        () => x.client.members(),
        (m) => m.members.filter((y) => y.status === 'alive').length === 3,
      );
    return { a, b, c, port: Number(new URL(url).port), token, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
