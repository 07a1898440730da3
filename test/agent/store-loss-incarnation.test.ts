// An agent that lost its store (kept its identity key) and restarted must come back above every
// incarnation of its previous life (docs/chaos.md, item (a), seed 103): its peers may hold it
// dead or left at the last one, and an alive at or below that does not override them (SWIM
// §4.2). Without the store there is no saved incarnation to start above, so the start
// incarnation is taken from the wall clock as well (startIncarnation).
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { DB_FILE_NAME } from '../../src/store/open-database.js';
import { FAST_MEMBERSHIP, listenOf, quiet, stopAll, testConfig, waitConnected, waitFor } from './helpers.js';

let agents: Agent[] = [];
afterEach(() => stopAll(agents.splice(0)));

/** Dead and left members are kept far longer than the test: forgetting them cannot help. */
const OPTIONS = { logger: quiet, membership: { ...FAST_MEMBERSHIP, deadRetentionMs: 600_000 } };
const memberAt = (viewer: Agent, id: string) => viewer.members().members.find((m) => m.id === id);

/** Deletes the store (smac.db and its -wal/-shm files), keeping the identity key. */
function loseStore(dataDir: string): void {
  for (const f of readdirSync(dataDir))
    if (f.startsWith(DB_FILE_NAME)) rmSync(join(dataDir, f), { force: true });
}

describe('an agent restarted without its store', () => {
  it.each([
    ['declared dead (cut off, then stopped)', 'dead', true],
    ['left (a graceful stop)', 'left', false],
  ] as const)('after it was %s, is alive again at its peers without refuting', async (_, verdict, cutOff) => {
    const a = await Agent.start(testConfig(), OPTIONS);
    agents = [a];
    for (let i = 0; i < 2; i++) agents.push(await Agent.start(testConfig({ join: a.addresses() }), OPTIONS));
    await waitConnected(agents, 2);
    const [, b, c] = agents as [Agent, Agent, Agent];
    await waitFor(() => [a, b].every((x) => memberAt(x, c.peerId)?.status === 'alive'), 'c alive');

    if (cutOff) await c.isolate(true);
    const listen = listenOf(c);
    if (!cutOff) await c.stop();
    await waitFor(
      () => [a, b].every((x) => memberAt(x, c.peerId)?.status === verdict),
      `c ${verdict} at a and b`,
    );
    const heldAt = Math.max(...[a, b].map((x) => memberAt(x, c.peerId)!.incarnation));
    if (cutOff) await c.stop();
    loseStore(c.config.dataDir);

    const c2 = await Agent.start({ ...c.config, listen, join: a.addresses() }, OPTIONS);
    agents[2] = c2;
    expect(c2.peerId).toBe(c.peerId);
    const startedAt = memberAt(c2, c2.peerId)!.incarnation;
    await waitFor(
      () => [a, b].every((x) => memberAt(x, c2.peerId)?.status === 'alive'),
      `c alive again at a and b (held ${verdict} at ${heldAt}; c restarted at ${startedAt})`,
    );
    // Its first alive was taken: no claim about its previous life had to be refuted.
    expect(startedAt).toBeGreaterThan(heldAt);
    expect(c2.members().probes.refutations).toBe(0);
  });
});
