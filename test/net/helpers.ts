// Shared helpers of the network tests: loopback nodes, signed events, bounded polling.
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { encodeEvent, encodeSnapshot, type Snapshot } from '../../src/core/codec/index.js';
import type { Json } from '../../src/core/json.js';
import { CHAINED_ENVELOPE_WIRE_VERSION, envelopeLink, NO_LINK, sealEvent } from '../../src/net/envelope.js';
import { createSmacNode, type SmacNode, type SmacNodeOptions } from '../../src/net/node.js';

export async function newKey(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519');
}

export function idOf(key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString();
}

/** A started node on 127.0.0.1, random port, short dial timeout. */
export async function loopbackNode(opts: Partial<SmacNodeOptions> = {}): Promise<SmacNode> {
  return createSmacNode({
    privateKey: opts.privateKey ?? (await newKey()),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    dialTimeoutMs: 2_000,
    ...opts,
  });
}

export async function stopAll(nodes: readonly (SmacNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => n?.stop()));
}

/** Polls `cond` every `intervalMs` until it holds; fails after `timeoutMs`. Never a fixed sleep. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 15_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Encodes and signs one event of `key`'s origin. */
export function signedEvent(
  key: PrivateKey,
  seq: number,
  opts: { deps?: VectorClock; ops?: Json[]; wall?: number } = {},
): Uint8Array {
  const bytes = encodeEvent({
    origin: idOf(key),
    seq,
    deps: opts.deps ?? new Map(),
    hlc: { wall: opts.wall ?? 1_700_000_000_000 + seq, logical: 0 },
    ops: opts.ops ?? [{ op: 'inc', key: 'c', n: seq }],
  });
  return sealEvent(key, bytes);
}

/** Event bytes of `key`'s origin at `seq` (a pn-counter increment by `by`), in wire `version`. */
export function counterEventBytes(
  key: PrivateKey,
  seq: number,
  version = CHAINED_ENVELOPE_WIRE_VERSION,
  by = seq,
): Uint8Array {
  return encodeEvent(
    {
      origin: idOf(key),
      seq,
      deps: new Map(),
      hlc: { wall: 1_700_000_000_000 + seq, logical: 0 },
      ops: [{ type: 'pn-counter', key: 'c', op: { kind: 'increment', by } }],
    },
    undefined,
    version,
  );
}

/** Chained (v2) envelopes of `key`'s events from..to, each linked to the one before. */
export function chainedEvents(key: PrivateKey, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = NO_LINK;
  for (let seq = from; seq <= to; seq++) {
    const env = sealEvent(key, counterEventBytes(key, seq), prev);
    out.push(env);
    prev = envelopeLink(env);
  }
  return out;
}

/** The stable `code` of what `f` throws (sync or async), or undefined if it does not throw. */
export async function codeOf(f: () => unknown): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    throw e;
  }
  return undefined;
}

/**
 * A valid encoded snapshot (v1, empty clock) of at least `minBytes`: a keyspace of many small
 * objects, so that it streams in several chunks and decodes to a state of as many entries.
 */
export function bigSnapshot(minBytes: number): { bytes: Uint8Array; snapshot: Snapshot } {
  const objects: Record<string, Json> = {};
  const count = Math.ceil(minBytes / 60);
  for (let i = 0; i < count; i++) objects[`key-${i}`] = { v: `value ${i} ${'x'.repeat(i % 13)}`, n: i };
  const snapshot: Snapshot = {
    vc: new Map(),
    hlc: { wall: 1_700_000_000_000, logical: 0 },
    keyspace: { objects },
  };
  return { bytes: encodeSnapshot(snapshot), snapshot };
}
