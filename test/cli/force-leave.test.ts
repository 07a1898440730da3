// `smac members force-leave` and `smac status` through the real binary (dist/cli/main.js)
// against an API served from this process: a force-leave that waits for its agreed cut says it
// is pending, `status` names it until then, and one past the bound exits 1 with its code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TooManyForceLeaves } from '../../src/agent/force-leaves.js';
import { ForgetRefused } from '../../src/agent/forgotten-members.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { type MembersSource, membersRouteModule } from '../../src/api/routes/members.js';
import { ReplicaAgent } from '../api/helpers.js';
import { type ServedApi, serveApi } from './served-api.js';

const AT = Date.UTC(2026, 11, 7, 1, 2, 3);
const pending = new Map<string, number>();

class Agent extends ReplicaAgent {
  override status(): AgentStatus {
    const s = super.status();
    const forceLeaves = [...pending].map(([peerId, at]) => ({ peerId, at }));
    return { ...s, compaction: { ...s.compaction, forceLeaves } };
  }
}

const source: MembersSource = {
  members: () => ({ members: [], transitions: [] }),
  forceLeave: (id) => {
    if (id === 'peer-unknown') return false;
    if (id === 'peer-too-many') throw new TooManyForceLeaves(32);
    pending.set(id, AT);
    return true;
  },
  forceLeavePending: (id) => pending.has(id),
  forget: (id) => {
    if (id === 'peer-live') throw new ForgetRefused('MEMBER_NOT_REAPED', `${id} is not held reaped here.`);
    return { peerId: id, at: AT };
  },
};

let api: ServedApi;
beforeAll(async () => {
  api = await serveApi(new Agent('peer-self'), [membersRouteModule(source)]);
});
afterAll(async () => {
  await api.close();
});
const smac = (...args: string[]) => api.smac(...args);

describe('smac members force-leave', () => {
  it('says the force-leave is pending, and status names it until the cut', async () => {
    const r = await smac('members', 'force-leave', 'peer-gone');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'peer-gone force-left: reaping it once every member agrees on the cut (pending',
    );
    const s = await smac('status');
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('force-leave pending  peer-gone (since 2026-12-07T01:02:03.000Z)');
    pending.clear();
    expect((await smac('status')).stdout).not.toContain('force-leave pending');
  });

  it('exits 1 for an unknown member, and for one past the bound with TOO_MANY_FORCE_LEAVES', async () => {
    const unknown = await smac('members', 'force-leave', 'peer-unknown');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No member peer-unknown holds compaction back here');
    const over = await smac('members', 'force-leave', 'peer-too-many');
    expect(over.code).toBe(1);
    expect(over.stderr).toContain('32 force-leaves are pending already');
    expect(over.stderr).toContain('TOO_MANY_FORCE_LEAVES');
  });
});

describe('smac members forget', () => {
  it('forgets a reaped member, and exits 1 with MEMBER_NOT_REAPED for one that is not', async () => {
    const r = await smac('members', 'forget', 'peer-gone');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('peer-gone forgotten: this agent no longer keeps its writes for a re-run');
    const live = await smac('members', 'forget', 'peer-live');
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('MEMBER_NOT_REAPED');
  });
});
