// Heartbeat frame v1: round trip, and every damaged or forged frame refused with a typed error.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PrivateKey } from '@libp2p/interface';
import { openHeartbeat, sealHeartbeat } from '../../src/net/heartbeat-frame.js';
import { codeOf, idOf, newKey } from './helpers.js';

let alice: PrivateKey;
let bob: PrivateKey;
beforeAll(async () => {
  alice = await newKey();
  bob = await newKey();
});

describe('heartbeat frame', () => {
  it('round-trips publisher, seqno and payload', () => {
    const frame = openHeartbeat(sealHeartbeat(alice, 1_790_000_000_000_123, new Uint8Array([1, 2, 3])), 64);
    expect(frame).toEqual({
      publisher: idOf(alice),
      seqno: 1_790_000_000_000_123,
      payload: new Uint8Array([1, 2, 3]),
    });
  });

  it('refuses a payload over the limit, another version, and a signature by someone else', async () => {
    expect(await codeOf(() => openHeartbeat(sealHeartbeat(alice, 1, new Uint8Array(65)), 64))).toBe(
      'TOO_LARGE',
    );
    const v2 = sealHeartbeat(alice, 1, new Uint8Array([1]));
    v2[0] = 2;
    expect(await codeOf(() => openHeartbeat(v2, 64))).toBe('UNSUPPORTED_VERSION');
    const mine = sealHeartbeat(alice, 7, new Uint8Array([9]));
    const theirs = sealHeartbeat(bob, 7, new Uint8Array([9]));
    const spliced = mine.slice();
    spliced.set(theirs.subarray(theirs.length - 64), mine.length - 64);
    expect(await codeOf(() => openHeartbeat(spliced, 64))).toBe('BAD_SIGNATURE');
  });

  it('never accepts a mutated frame, and fails only with typed errors', () => {
    const frame = sealHeartbeat(alice, 42, new Uint8Array([5, 6, 7, 8]));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: frame.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, xor) => {
          const bad = frame.slice();
          bad[at]! ^= xor;
          try {
            openHeartbeat(bad, 64);
          } catch (e) {
            return typeof (e as { code?: unknown }).code === 'string';
          }
          return false;
        },
      ),
      { numRuns: 200 },
    );
  });
});
