// Whom snapshots are taken from (src/agent/snapshot-source.ts): a new joiner from its join peer,
// afterwards only from members.
import { describe, expect, it } from 'vitest';
import {
  snapshotSourceRefusal,
  type SnapshotSourceView,
  streamedSourceRefusal,
} from '../../src/agent/snapshot-source.js';

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

  it('a reaped peer is taken once its snapshot proves an epoch of its own no reap names (it rebased)', () => {
    const reaps = new Map([
      ['old~1', { cut: 5 }],
      ['old~2', { cut: undefined }], // being reaped, no cut yet
    ]);
    const reapedView = (claims: [string, number][]) =>
      view({
        origins: ['me~1', 'old~1'],
        isMember: () => false,
        reaped: (p) => p === 'old',
        claims: () => new Map(claims),
        reapOf: (e) => reaps.get(e),
      });
    expect(snapshotSourceRefusal('old', reapedView([['old~3', 2]]))).toBeUndefined();
    // Only reaped epochs: not rebased.
    expect(snapshotSourceRefusal('old', reapedView([['old~2', 9]]))).toMatch(/only from members/);
    // Still holding a reaped epoch beyond its cut: effects no replica applies.
    expect(
      snapshotSourceRefusal(
        'old',
        reapedView([
          ['old~1', 6],
          ['old~3', 2],
        ]),
      ),
    ).toMatch(/only from members/);
    // Nothing proven: refused.
    expect(snapshotSourceRefusal('old', { ...reapedView([]), claims: () => undefined })).toMatch(
      /only from members/,
    );
    // A peer that left gracefully is no reaped peer.
    expect(snapshotSourceRefusal('old', { ...reapedView([['old~3', 2]]), reaped: () => false })).toMatch(
      /only from members/,
    );
  });

  it('while a snapshot streams in: a stranger is refused at the header, a reaped peer only once its heads are known', () => {
    const established = view({
      origins: ['me~1', 'member~1'],
      reaped: (p) => p === 'old',
      reapOf: (e) => (e === 'old~1' ? { cut: 5 } : undefined),
    });
    expect(streamedSourceRefusal('stranger', established, undefined)).toMatch(/only from members/);
    expect(streamedSourceRefusal('member', established, undefined)).toBeUndefined();
    expect(streamedSourceRefusal('old', established, undefined)).toBeUndefined();
    expect(streamedSourceRefusal('old', established, new Map([['old~1', 6]]))).toMatch(/only from members/);
    expect(streamedSourceRefusal('old', established, new Map([['old~2', 1]]))).toBeUndefined();
  });
});
