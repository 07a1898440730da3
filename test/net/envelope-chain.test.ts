// Chained envelopes (v2, issue 8): a signed event vouches for its origin's previous envelope,
// so a batch is opened with one signature check per run; a forged or damaged envelope in a
// run is refused on its own and never takes the good ones with it.
import { beforeAll, describe, expect, it } from 'vitest';
import type { PrivateKey } from '@libp2p/interface';
import {
  CHAINED_ENVELOPE_VERSION,
  CHAINED_ENVELOPE_WIRE_VERSION,
  ENVELOPE_VERSION,
  envelopeLink,
  openEnvelope,
  sealEvent,
} from '../../src/net/envelope.js';
import {
  EnvelopeOpener,
  type EnvelopeOutcome,
  openEnvelopes,
  type OpenStats,
} from '../../src/net/envelope-batch.js';
import { chainedEvents, codeOf, counterEventBytes, newKey } from './helpers.js';

let alice: PrivateKey;
let bob: PrivateKey;
beforeAll(async () => {
  alice = await newKey();
  bob = await newKey();
});

const bytesOf = counterEventBytes;
const chain = chainedEvents;

const codes = (outcomes: readonly EnvelopeOutcome[]): (string | undefined)[] =>
  outcomes.map((o) => (o.ok ? undefined : (o.error as { code: string }).code));

describe('chained envelopes', () => {
  it('seals events of the chained wire version as v2, older ones as v1; each opens on its own', () => {
    const [first, second] = chain(alice, 1, 2);
    expect(first![0]).toBe(CHAINED_ENVELOPE_VERSION);
    expect(openEnvelope(first!).prev).toBeUndefined();
    expect([...openEnvelope(second!).prev!]).toEqual([...envelopeLink(first!)]);
    expect(openEnvelope(second!).event.seq).toBe(2);
    const old = sealEvent(alice, bytesOf(alice, 3, CHAINED_ENVELOPE_WIRE_VERSION - 1), envelopeLink(second!));
    expect(old[0]).toBe(ENVELOPE_VERSION);
    expect(openEnvelope(old).event.seq).toBe(3);
  });

  it('the link is signed: changing it breaks the signature', async () => {
    const [first, second] = chain(alice, 1, 2);
    const relinked = Uint8Array.from(second!);
    // The link is the 32 bytes before the signature's length byte and the 64-byte signature.
    const at = relinked.length - 1 - 64 - 32;
    expect([...relinked.subarray(at, at + 32)]).toEqual([...envelopeLink(first!)]);
    relinked[at]! ^= 0x01;
    expect(await codeOf(() => openEnvelope(relinked))).toBe('BAD_SIGNATURE');
  });

  it('opens a run with one signature check per origin', async () => {
    const list = [...chain(alice, 1, 50), ...chain(bob, 1, 30)];
    const stats: OpenStats = { verified: 0, covered: 0 };
    const outcomes = await openEnvelopes(list, undefined, stats);
    expect(codes(outcomes).every((c) => c === undefined)).toBe(true);
    expect(outcomes.map((o) => (o.ok ? o.opened.event.seq : 0))).toEqual([
      ...Array.from({ length: 50 }, (_, i) => i + 1),
      ...Array.from({ length: 30 }, (_, i) => i + 1),
    ]);
    expect(stats).toEqual({ verified: 2, covered: 78 });
  });

  it('refuses a tampered event in the middle of a run on its own, and accepts the rest', async () => {
    const list = chain(alice, 1, 10);
    // Same length, one op byte changed (`"by":5` -> 6, the last '5' before the link),
    // signature and links untouched.
    const bad = Uint8Array.from(list[4]!);
    const i = bad.lastIndexOf('5'.charCodeAt(0), bad.length - 1 - 64 - 32 - 1);
    expect(String.fromCharCode(...bad.subarray(i - 5, i + 1))).toBe('"by":5');
    bad[i] = '6'.charCodeAt(0);
    list[4] = bad;
    const stats: OpenStats = { verified: 0, covered: 0 };
    const outcomes = await openEnvelopes(list, undefined, stats);
    expect(codes(outcomes)).toEqual([
      ...Array(4).fill(undefined),
      'BAD_SIGNATURE',
      ...Array(5).fill(undefined),
    ]);
    // The head, the tampered one (its hash matches no link), and seq 4 (its coverer failed).
    expect(stats.verified).toBe(3);
  });

  it('refuses a forged head (signed by another key, genuine link) without refusing what it links to', async () => {
    const list = chain(alice, 1, 6);
    const eventBytes = bytesOf(alice, 6, CHAINED_ENVELOPE_WIRE_VERSION, 999);
    // Sealed by bob over alice's event: sealEvent refuses, so splice bob's signature in.
    const bobs = sealEvent(bob, bytesOf(bob, 6, CHAINED_ENVELOPE_WIRE_VERSION, 999), envelopeLink(list[4]!));
    const forged = Uint8Array.from(sealEvent(alice, eventBytes, envelopeLink(list[4]!)));
    forged.set(bobs.subarray(bobs.length - 64), forged.length - 64);
    list[5] = forged;
    const outcomes = await openEnvelopes(list);
    expect(codes(outcomes)).toEqual([...Array(5).fill(undefined), 'BAD_SIGNATURE']);
  });

  it('a forged event carrying a genuine link vouches for nothing', async () => {
    // Seq 2 is forged, claims seq 1 as its predecessor; seq 1 itself is damaged.
    const list = chain(alice, 1, 3);
    const damaged = Uint8Array.from(list[0]!);
    damaged[damaged.length - 1]! ^= 0xff;
    list[0] = damaged;
    const forged = Uint8Array.from(list[1]!);
    forged[forged.length - 1]! ^= 0xff;
    list[1] = forged;
    expect(codes(await openEnvelopes(list))).toEqual(['BAD_SIGNATURE', 'BAD_SIGNATURE', undefined]);
  });

  it('decides every envelope of a mixed, shuffled list as openEnvelope does', async () => {
    const runs = [...chain(alice, 1, 8), ...chain(bob, 1, 8)];
    const damaged = Uint8Array.from(runs[3]!);
    damaged[damaged.length - 10]! ^= 0x10;
    runs[3] = damaged;
    // Out of order and with a duplicate: links only count from seq to seq + 1 in list order.
    const list = [runs[5]!, ...runs, runs[2]!, runs[0]!];
    list.reverse();
    const expected = await Promise.all(list.map((e) => codeOf(() => openEnvelope(e))));
    expect(codes(await openEnvelopes(list))).toEqual(expected);
    expect(expected.filter((c) => c !== undefined)).toEqual(['BAD_SIGNATURE']);
  });

  it('opens the lists handed over in one turn together, each deciding its own envelopes', async () => {
    const stats: OpenStats = { verified: 0, covered: 0 };
    const opener = new EnvelopeOpener(undefined, stats);
    const run = chain(alice, 1, 30);
    const forged = Uint8Array.from(run[12]!);
    forged[forged.length - 1]! ^= 0xff;
    run[12] = forged;
    // Three gossip messages of one run, arriving together.
    const [m1, m2, m3] = await Promise.all([
      opener.open(run.slice(0, 10)),
      opener.open(run.slice(10, 20)),
      opener.open(run.slice(20)),
    ]);
    expect(codes(m1)).toEqual(Array(10).fill(undefined));
    expect(codes(m2)).toEqual([undefined, undefined, 'BAD_SIGNATURE', ...Array(7).fill(undefined)]);
    expect(codes(m3)).toEqual(Array(10).fill(undefined));
    // The head (seq 30), the forged seq 13, and seq 12 whose coverer failed.
    expect(stats).toEqual({ verified: 3, covered: 27 });
    // Later lists are a new batch.
    expect(codes(await opener.open(chain(bob, 1, 2)))).toEqual([undefined, undefined]);
    expect(stats.verified).toBe(4);
  });
});
