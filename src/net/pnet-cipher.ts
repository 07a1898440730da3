/**
 * Keeps the cluster key's stream cipher from killing the agent (docs/chaos.md, seed 5).
 *
 * @libp2p/pnet encrypts every byte of a private network with xsalsa20 1.2.0, whose WebAssembly
 * memory (at most 1000 pages, 64 MiB) is shared by every cipher in the process, two per
 * connection. Each cipher keeps its own view of that memory. Growing the memory (any message
 * larger than about 640 KiB does) detaches the other ciphers' views; each of them, at its next
 * message, takes its empty view for a full memory and grows it again by the whole message, which
 * detaches the others' views once more. With a few connections every message then grows the
 * memory, and within seconds `WebAssembly.Memory.grow(): Maximum memory size exceeded` is thrown
 * from a socket callback: the process exits. (js-libp2p fixed it upstream in pnet by the same
 * chunking, libp2p/js-libp2p#3585; the installed pnet does not have it.)
 *
 * The patch, applied once to the module instance pnet itself loads:
 * - each update is cut into chunks of at most 64 KiB, so a message never needs more memory than
 *   the initial 640 KiB (xsalsa20 is a stream cipher and carries a partial block across
 *   updates, so the bytes are the same);
 * - should the memory grow anyway (the per-cipher slots grow with the connections ever made), a
 *   cipher whose view was detached takes the current one instead of growing it again.
 */
import { createRequire } from 'node:module';

/** Bytes per xsalsa20 update: with the memory's other uses, well under its initial 640 KiB. */
export const PNET_CHUNK_BYTES = 64 * 1024;

interface Cipher {
  update: (this: Cipher, input: Uint8Array, output?: Uint8Array) => Uint8Array;
  finalize: (this: Cipher) => void;
  _xor: WasmState;
}
interface WasmState {
  _memory: Uint8Array;
}
interface WasmProto {
  update: (this: WasmState, input: Uint8Array, output: Uint8Array) => void;
  realloc: (this: WasmState, size: number) => void;
  finalize: (this: WasmState) => void;
}
type CipherModule = ((nonce: Uint8Array, key: Uint8Array) => Cipher) & { prototype: Cipher };

const PATCHED = Symbol.for('smac.pnet-cipher-patched');

/** The xsalsa20 module @libp2p/pnet loads (one CommonJS instance per path). */
export function pnetCipherModule(): CipherModule {
  const req = createRequire(import.meta.resolve('@libp2p/pnet'));
  return req('xsalsa20') as CipherModule;
}

/** Applies the patch (idempotent). Returns false when xsalsa20 runs without WebAssembly. */
export function patchPnetCipher(mod: CipherModule = pnetCipherModule()): boolean {
  const proto = mod.prototype as Cipher & { [PATCHED]?: true };
  if (proto[PATCHED]) return true;
  const probe = mod(new Uint8Array(24), new Uint8Array(32));
  const wasm = Object.getPrototypeOf(probe._xor) as Partial<WasmProto>;
  const hasWasm = '_memory' in probe._xor && typeof wasm.realloc === 'function';
  if (hasWasm) {
    const w = wasm as WasmProto;
    // The view the latest growth made: every growth goes through realloc.
    let current: Uint8Array = probe._xor._memory;
    const fresh = (s: WasmState): void => {
      if (s._memory.length === 0 && current.length > 0) s._memory = current;
    };
    const { update, realloc, finalize } = w;
    w.realloc = function (size) {
      realloc.call(this, size);
      current = this._memory;
    };
    w.update = function (input, output) {
      fresh(this);
      update.call(this, input, output);
    };
    w.finalize = function () {
      fresh(this);
      finalize.call(this);
    };
  }
  probe.finalize();
  const chunked = mod.prototype.update;
  proto.update = function (this: Cipher, input: Uint8Array, output?: Uint8Array): Uint8Array {
    if (input.length <= PNET_CHUNK_BYTES) return chunked.call(this, input, output);
    const out = output ?? new Uint8Array(input.length);
    for (let at = 0; at < input.length; at += PNET_CHUNK_BYTES) {
      const end = Math.min(input.length, at + PNET_CHUNK_BYTES);
      chunked.call(this, input.subarray(at, end), out.subarray(at, end));
    }
    return out;
  };
  proto[PATCHED] = true;
  return hasWasm;
}
