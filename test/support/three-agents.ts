/**
 * Three agent processes (test/support/agent-process.ts) joined into one cluster with a fast
 * failure detector, each with a client on its Unix socket: for the end-to-end tests of the
 * interfaces operators' tools use (DNS, templates). Regions: a and b in eu-central, c in us-west.
 */
import { SmacClient } from '../../src/client/client.js';
import { type AgentProcess, startAgentProcess } from './agent-process.js';

export const FAST_MEMBERSHIP = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  suspicionMult: 6,
  suspicionMaxTimeoutMult: 3,
  /**
   * memberlist's floor (suspicionMult periods) plus the probe timeout that the last-chance ping
   * used to add after it: the time to refute that these tests were tuned with.
   */
  suspicionFloorMs: 1_300,
  gossipIntervalMs: 50,
};

export interface ClusterAgent {
  readonly name: string;
  readonly proc: AgentProcess;
  readonly client: SmacClient;
  readonly peerId: string;
  /** The ready line's fields (e.g. `dns`). */
  readonly ready: Record<string, unknown>;
}

/** Polls `probe` until `ok`; failures of the probe count as not yet. */
export async function waitFor<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) last = v;
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a, b and c (`args` added to each) and waits until each sees three alive members. */
export async function startThreeAgents(args: (name: string) => string[] = () => []): Promise<ClusterAgent[]> {
  const agents: ClusterAgent[] = [];
  try {
    for (const name of ['a', 'b', 'c']) {
      const first = agents[0];
      const proc = await startAgentProcess([
        '--sync-interval-ms',
        '300',
        '--heartbeat-interval-ms',
        '200',
        '--region',
        name === 'c' ? 'us-west' : 'eu-central',
        '--membership',
        JSON.stringify(FAST_MEMBERSHIP),
        ...(first === undefined ? [] : first.proc.ready.addresses.flatMap((a) => ['--join', a])),
        ...args(name),
      ]);
      agents.push({
        name,
        proc,
        client: new SmacClient({ socketPath: proc.socket }),
        peerId: proc.ready.peerId,
        ready: proc.ready,
      });
    }
    for (const p of agents) {
      await waitFor(
        () => p.client.members(),
        (m) => m.members.filter((x) => x.status === 'alive').length === 3,
        `three alive members on ${p.name}`,
        60_000,
      );
    }
  } catch (e) {
    stopAgents(agents);
    throw e;
  }
  return agents;
}

export function stopAgents(agents: readonly ClusterAgent[]): void {
  for (const p of agents) {
    p.client.close();
    p.proc.kill();
  }
}
