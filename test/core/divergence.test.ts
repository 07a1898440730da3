// The rule that tells a member of another cluster (src/core/divergence.ts): each condition
// alone keeps the peer; only all of them together refuse it.
import { describe, expect, it } from 'vitest';
import {
  divergedForGood,
  type LocalFacts,
  type ReplicaFacts,
  sharedMembers,
} from '../../src/core/divergence.js';

const vc = (o: Record<string, number>): Map<string, number> => new Map(Object.entries(o));

/** L folded its own 1..40 of 60; R folded its own 1..40 of 60; neither holds the other's. */
function pair(over: { local?: Partial<LocalFacts>; remote?: Partial<ReplicaFacts> } = {}) {
  const local: LocalFacts = {
    folded: vc({ 'L~1': 40 }),
    vc: vc({ 'L~1': 60 }),
    members: () => ['R'],
    knows: () => false,
    ...over.local,
  };
  const remote: ReplicaFacts = {
    folded: vc({ 'R~1': 40 }),
    vc: vc({ 'R~1': 60 }),
    members: ['L'],
    membersComplete: true,
    ...over.remote,
  };
  return divergedForGood('L', 'R', local, remote);
}

describe('divergedForGood', () => {
  it('refuses a peer when each folded what the other lacks and no member knows both', () => {
    expect(pair()).toMatch(/this agent 40, the peer 40/);
  });

  it('keeps a peer whose folded events we hold, or that lacks none of ours', () => {
    expect(pair({ local: { vc: vc({ 'L~1': 60, 'R~1': 40 }) } })).toBeUndefined();
    expect(pair({ remote: { vc: vc({ 'R~1': 60, 'L~1': 40 }) } })).toBeUndefined();
    // A fresh joiner, or a lone agent that never compacted: nothing folded.
    expect(pair({ remote: { folded: vc({}) } })).toBeUndefined();
    expect(pair({ local: { folded: vc({}) } })).toBeUndefined();
  });

  it('keeps a peer that is known here: a member, a retired one, one a member names', () => {
    expect(pair({ local: { knows: (p) => p === 'R' } })).toBeUndefined();
  });

  it('keeps a peer that shares a member with us: that member may bring the gap', () => {
    expect(pair({ local: { members: () => ['C', 'R'] }, remote: { members: ['L', 'C'] } })).toBeUndefined();
    // Only the two themselves in common is no shared member.
    expect(pair({ local: { members: () => ['R', 'X'] }, remote: { members: ['L', 'Y'] } })).toBeDefined();
  });

  it('keeps a peer that does not say enough to show it (earlier release, cut member list)', () => {
    expect(pair({ remote: { folded: undefined } })).toBeUndefined();
    expect(pair({ remote: { members: undefined } })).toBeUndefined();
    expect(pair({ remote: { membersComplete: false } })).toBeUndefined();
  });

  it('sharedMembers leaves out the pair itself', () => {
    expect(sharedMembers('L', 'R', ['R', 'C', 'D'], ['L', 'C'])).toEqual(['C']);
  });
});
