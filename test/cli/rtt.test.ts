// `smac rtt [member-a] [member-b]` through the real binary (dist/cli/main.js) against an API
// served from this process, whose members carry the round trips an agent's failure detector
// measured (GET /v1/members): every member, one by peer id or region, the pair form when one
// of the two is the asked agent, and a clear refusal when neither is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MembersSource, membersRouteModule } from '../../src/api/routes/members.js';
import { ReplicaAgent } from '../api/helpers.js';
import { type ServedApi, serveApi } from './served-api.js';

const SELF = 'peer-self';
const rtt = (srttMs: number, samples: number) => ({
  srttMs,
  rttvarMs: 3.5,
  lastMs: srttMs,
  samples,
  probeTimeoutMs: 500,
});
const source: MembersSource = {
  members: () => ({
    members: [
      { id: SELF, status: 'alive', incarnation: 1, region: 'sgp', meta: {}, sinceMs: 0 },
      {
        id: 'peer-fra',
        status: 'alive',
        incarnation: 1,
        region: 'fra',
        meta: {},
        sinceMs: 0,
        rtt: rtt(157.2, 40),
      },
      {
        id: 'peer-sfo',
        status: 'alive',
        incarnation: 2,
        region: 'sfo',
        meta: {},
        sinceMs: 0,
        rtt: rtt(172.4, 38),
      },
      { id: 'peer-new', status: 'alive', incarnation: 1, region: 'sfo', meta: {}, sinceMs: 0 },
    ],
    transitions: [],
  }),
};

let api: ServedApi;
beforeAll(async () => {
  api = await serveApi(new ReplicaAgent(SELF), [membersRouteModule(source)]);
});
afterAll(async () => {
  await api.close();
});
const smac = (...args: string[]) => api.smac(...args);

describe('smac rtt', () => {
  it('lists the round trip to every measured member, or to one by peer id or region', async () => {
    const all = await smac('rtt');
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+REGION\s+SRTT\s+RTTVAR\s+PROBE TIMEOUT\s+SAMPLES$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual(['peer-fra', 'peer-sfo']);
    const one = await smac('--json', 'rtt', 'sfo');
    expect(one.code).toBe(0);
    expect((JSON.parse(one.stdout) as { id: string }[]).map((m) => m.id)).toEqual(['peer-sfo']);
  });

  it('estimates the round trip between this agent and another, named either way round', async () => {
    const ab = await smac('rtt', SELF, 'fra');
    expect(ab).toMatchObject({ code: 0, stderr: '' });
    expect(ab.stdout.trim()).toBe(
      'Estimated peer-self <-> peer-fra (fra) rtt: 157.2 ms (smoothed over 40 samples, deviation 3.5 ms)',
    );
    const ba = await smac('rtt', 'peer-sfo', 'sgp'); // sgp: this agent's region
    expect(ba.code).toBe(0);
    expect(ba.stdout).toContain('Estimated peer-self <-> peer-sfo (sfo) rtt: 172.4 ms');
  });

  it('refuses a pair without this agent, and a member it has not measured, with exit 1', async () => {
    const neither = await smac('rtt', 'fra', 'sfo');
    expect(neither.code).toBe(1);
    expect(neither.stdout).toBe('');
    expect(neither.stderr).toContain('measures round trips only from itself');
    const unmeasured = await smac('rtt', SELF, 'peer-new');
    expect(unmeasured.code).toBe(1);
    expect(unmeasured.stderr).toContain('No round trip measured to peer-new yet');
  });
});
