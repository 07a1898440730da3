// Whom snapshots are taken from (src/agent/snapshot-source.ts): a new joiner from its join peer,
// afterwards only from members.
import { describe, expect, it } from 'vitest';
import { snapshotSourceRefusal, type SnapshotSourceView } from '../../src/agent/snapshot-source.js';

const view = (over: Partial<SnapshotSourceView> = {}): SnapshotSourceView => ({
  self: 'me',
  origins: ['me~1'],
  joins: true,
  joinPeers: new Set(['seed']),
  isMember: (p) => p === 'member',
  ...over,
});

describe('snapshot sources', () => {
  it('a new joiner (no other origin yet) takes its first snapshot from a join peer only', () => {
    expect(snapshotSourceRefusal('seed', view())).toBeUndefined();
    expect(snapshotSourceRefusal('stranger', view())).toMatch(/join peer/);
    expect(snapshotSourceRefusal('seed', view({ origins: [] }))).toBeUndefined();
    // An earlier epoch of our own does not make us an established member.
    expect(snapshotSourceRefusal('stranger', view({ origins: ['me~1', 'me~2'] }))).toMatch(/join peer/);
  });

  it('with no join address configured (mDNS), a new joiner takes the first peer the cluster key admitted', () => {
    expect(snapshotSourceRefusal('stranger', view({ joins: false }))).toBeUndefined();
  });

  it('afterwards only members: not a join peer that is no member, not a stranger', () => {
    const established = view({ origins: ['me~1', 'member~1'] });
    expect(snapshotSourceRefusal('member', established)).toBeUndefined();
    expect(snapshotSourceRefusal('seed', established)).toMatch(/only from members/);
    expect(snapshotSourceRefusal('stranger', established)).toMatch(/only from members/);
  });
});
