// The cluster key's cipher (xsalsa20 under @libp2p/pnet) must survive large messages on one
// connection followed by traffic on the others. Before src/net/pnet-cipher.ts, the nemesis
// (seed 5, 5 agents) lost agents to `RangeError: WebAssembly.Memory.grow(): Maximum memory size
// exceeded`, thrown from pnet's sendData: one message above 640 KiB made every later message
// on another connection grow the shared memory again, up to its 64 MiB limit.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/net/node.js'; // what the agent loads: the node module applies the patch

interface Cipher {
  update(input: Uint8Array, output?: Uint8Array): Uint8Array;
  finalize(): void;
  _xor: { _memory?: Uint8Array };
}

const ROOT = join(import.meta.dirname, '..', '..');
// The same module instance pnet loads (resolved from pnet's own directory).
const xsalsa20 = createRequire(join(ROOT, 'node_modules', '@libp2p', 'pnet', 'package.json'))('xsalsa20') as (
  nonce: Uint8Array,
  key: Uint8Array,
) => Cipher;

/** One direction of a protected connection: the sender's cipher and the receiver's. */
function link(key: Uint8Array): { send: Cipher; receive: Cipher } {
  const nonce = randomBytes(24);
  return { send: xsalsa20(nonce, key), receive: xsalsa20(nonce, key) };
}

describe('pnet cipher (cluster key)', () => {
  it('a message above 640 KiB, then traffic on every connection: no growth, no crash, same bytes', () => {
    const key = randomBytes(32);
    const links = Array.from({ length: 8 }, () => link(key));
    const big = randomBytes(3 * 1024 * 1024);
    const sealed = links[0]!.send.update(big);
    // The receiver sees other chunk boundaries (TCP's): the stream must be the same.
    const opened = Buffer.concat(
      Array.from({ length: Math.ceil(sealed.length / 1000) }, (_, i) =>
        links[0]!.receive.update(sealed.subarray(i * 1000, (i + 1) * 1000)),
      ),
    );
    expect(opened.equals(big)).toBe(true);
    for (let i = 0; i < 3000; i++) {
      const l = links[i % links.length]!;
      const msg = randomBytes(50 + (i % 300));
      expect(Buffer.from(l.receive.update(l.send.update(msg))).equals(msg)).toBe(true);
    }
    const memory = links[0]!.send._xor._memory;
    if (memory) expect(memory.byteLength).toBeLessThanOrEqual(640 * 1024);
    for (const l of links) {
      l.send.finalize();
      l.receive.finalize();
    }
  });

  it('once the memory did grow (slots of many connections), the other ciphers do not grow it again', () => {
    const key = randomBytes(32);
    const links = Array.from({ length: 8 }, () => link(key));
    const grower = links[0]!.send._xor as { update?: (i: Uint8Array, o: Uint8Array) => void };
    if (typeof grower.update !== 'function') return; // xsalsa20 without WebAssembly: nothing shared
    // Past the chunking, as the growing per-cipher slots would: the memory grows once.
    const big = randomBytes(2 * 1024 * 1024);
    const sealed = new Uint8Array(big.length);
    grower.update(big, sealed);
    expect(Buffer.from(links[0]!.receive.update(sealed)).equals(big)).toBe(true);
    for (let i = 0; i < 3000; i++) {
      const l = links[i % links.length]!;
      const msg = randomBytes(50 + (i % 300));
      expect(Buffer.from(l.receive.update(l.send.update(msg))).equals(msg)).toBe(true);
    }
    for (const l of links) {
      l.send.finalize();
      l.receive.finalize();
    }
  });
});
