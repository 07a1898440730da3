import { describe, expect, it } from 'vitest';
import { epochOfOrigin, isWellFormedOrigin, originOf, peerOfOrigin } from '../../src/core/origin.js';

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf';

describe('origins', () => {
  it.each([
    [undefined, PEER],
    ['1', `${PEER}~1`],
    ['k3x9a0', `${PEER}~k3x9a0`],
  ])('epoch %s of a peer is %s, and parses back', (epoch, origin) => {
    expect(originOf(PEER, epoch)).toBe(origin);
    expect(peerOfOrigin(origin)).toBe(PEER);
    expect(epochOfOrigin(origin)).toBe(epoch);
    expect(isWellFormedOrigin(origin)).toBe(true);
  });

  it.each(['', 'UPPER', 'x'.repeat(17), 'a~b'])('refuses the epoch %j', (epoch) => {
    expect(() => originOf(PEER, epoch)).toThrow(RangeError);
  });

  it.each(['', `${PEER}~`, `~abc`, `${PEER}~a~b`, `${PEER}~ABC`])('%j is not a well-formed origin', (o) => {
    expect(isWellFormedOrigin(o)).toBe(false);
  });
});
