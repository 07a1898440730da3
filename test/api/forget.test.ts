// POST /v1/members/:id/forget (docs/agent.md "Forgetting a reaped member") through `inject()`:
// the stable codes of each refusal, and the own-ops figure in /v1/status and /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForgetRefused } from '../../src/agent/forgotten-members.js';
import type { ApiApp } from '../../src/api/app.js';
import { type MembersSource, membersRouteModule } from '../../src/api/routes/members.js';
import { createApiApp } from '../../src/api/server.js';
import { ReplicaAgent } from './helpers.js';

const AT = Date.UTC(2026, 11, 7, 1, 2, 3);

const source: MembersSource = {
  members: () => ({ members: [], transitions: [] }),
  forget: (id) => {
    if (id === 'peer-unknown') throw new ForgetRefused('NOT_FOUND', `No member ${id} is known here.`);
    if (id === 'peer-live') throw new ForgetRefused('MEMBER_NOT_REAPED', `${id} is not held reaped here.`);
    if (id === 'peer-many')
      throw new ForgetRefused('TOO_MANY_FORGOTTEN', '256 members are forgotten already.');
    return { peerId: id, at: AT };
  },
};

let app: ApiApp;
beforeAll(async () => {
  app = await createApiApp({ agent: new ReplicaAgent('peer-self'), routes: [membersRouteModule(source)] });
});
afterAll(async () => {
  await app.close();
});

const forget = (id: string) => app.inject({ method: 'POST', url: `/v1/members/${id}/forget` });

describe('POST /v1/members/:id/forget', () => {
  it('forgets a reaped member', async () => {
    const r = await forget('peer-gone');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ id: 'peer-gone', forgotten: true, at: '2026-12-07T01:02:03.000Z' });
  });

  it.each([
    ['peer-unknown', 404, 'NOT_FOUND'],
    ['peer-live', 409, 'MEMBER_NOT_REAPED'],
    ['peer-many', 429, 'TOO_MANY_FORGOTTEN'],
  ])('refuses %s with %i %s', async (id, status, code) => {
    const r = await forget(id);
    expect(r.statusCode).toBe(status);
    expect(r.json()).toMatchObject({ code });
  });

  it('shows the client batches kept in /v1/status and /metrics', async () => {
    const s = await app.inject({ method: 'GET', url: '/v1/status' });
    expect(s.json()).toMatchObject({ compaction: { ownOpsKept: 7, forgotten: [] } });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toMatch(/^smac_own_ops_kept 7$/m);
  });
});
