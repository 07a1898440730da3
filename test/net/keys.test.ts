// Identity and cluster key files: persistence, file modes, validation of corrupt input.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CLUSTER_KEY_BYTES,
  generateClusterKey,
  loadClusterKey,
  parseClusterKey,
  writeClusterKey,
} from '../../src/net/cluster-key.js';
import { IDENTITY_FILE_NAME, loadOrCreateIdentity } from '../../src/net/identity.js';
import { codeOf } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smac-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('identity', () => {
  it('creates an Ed25519 key with mode 0600 and returns the same peer id after a reload', async () => {
    const dataDir = join(dir, 'data');
    const first = await loadOrCreateIdentity(dataDir);
    expect(first.type).toBe('Ed25519');
    const info = await stat(join(dataDir, IDENTITY_FILE_NAME));
    expect(info.mode & 0o777).toBe(0o600);
    const again = await loadOrCreateIdentity(dataDir);
    expect(peerIdFromPrivateKey(again).toString()).toBe(peerIdFromPrivateKey(first).toString());
    expect(again.equals(first)).toBe(true);
  });

  it('refuses a key file that group or others can read, and leaves it alone', async () => {
    await loadOrCreateIdentity(dir);
    const path = join(dir, IDENTITY_FILE_NAME);
    const before = await readFile(path);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, mode);
      expect(await codeOf(() => loadOrCreateIdentity(dir))).toBe('INSECURE_KEY_FILE');
    }
    expect(await readFile(path)).toEqual(before);
  });

  it('refuses a corrupt key file instead of minting a new identity', async () => {
    const path = join(dir, IDENTITY_FILE_NAME);
    await writeFile(path, new Uint8Array([1, 2, 3, 4]), { mode: 0o600 });
    expect(await codeOf(() => loadOrCreateIdentity(dir))).toBe('CORRUPT_KEY_FILE');
    expect(await readFile(path)).toEqual(Buffer.from([1, 2, 3, 4]));
  });

  it('refuses a key of another type', async () => {
    const key = await generateKeyPair('secp256k1');
    await writeFile(join(dir, IDENTITY_FILE_NAME), privateKeyToProtobuf(key), { mode: 0o600 });
    expect(await codeOf(() => loadOrCreateIdentity(dir))).toBe('CORRUPT_KEY_FILE');
  });

  it('gives concurrent first starts one identity', async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateIdentity(dir)));
    const ids = new Set(keys.map((k) => peerIdFromPrivateKey(k).toString()));
    expect(ids.size).toBe(1);
  });
});

describe('cluster key', () => {
  it('generates distinct 95-byte pnet keys that parse back unchanged', () => {
    const a = generateClusterKey();
    const b = generateClusterKey();
    expect(a.length).toBe(CLUSTER_KEY_BYTES);
    expect(a).not.toEqual(b);
    expect(parseClusterKey(a)).toEqual(a);
    expect(new TextDecoder().decode(a)).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/);
  });

  it('tolerates one trailing newline and upper-case hex, and canonicalizes them', () => {
    const a = generateClusterKey();
    const text = new TextDecoder().decode(a);
    const edited = new TextEncoder().encode(text.slice(0, 31) + text.slice(31).toUpperCase() + '\n');
    expect(parseClusterKey(edited)).toEqual(a);
  });

  it.each([
    ['empty', ''],
    ['wrong header', '/key/swarm/psk/2.0.0/\n/base16/\n' + 'a'.repeat(64)],
    ['wrong codec', '/key/swarm/psk/1.0.0/\n/base64/\n' + 'a'.repeat(64)],
    ['short key', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'a'.repeat(63)],
    ['long key', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'a'.repeat(66)],
    ['not hex', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'g'.repeat(64)],
    ['two newlines', '/key/swarm/psk/1.0.0/\n/base16/\n' + 'a'.repeat(64) + '\n\n'],
  ])('refuses a key with %s', async (_name, text) => {
    expect(await codeOf(() => parseClusterKey(new TextEncoder().encode(text)))).toBe('BAD_CLUSTER_KEY');
  });

  it('refuses bytes that are not UTF-8', async () => {
    expect(await codeOf(() => parseClusterKey(new Uint8Array([0xff, 0xfe])))).toBe('BAD_CLUSTER_KEY');
  });

  it('writes mode 0600, loads it back, and never overwrites', async () => {
    const path = join(dir, 'cluster.key');
    const key = await writeClusterKey(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadClusterKey(path)).toEqual(key);
    expect(await codeOf(() => writeClusterKey(path))).toBe('KEY_FILE_EXISTS');
    expect(await loadClusterKey(path)).toEqual(key);
  });

  it('refuses a world-readable key file unless told the mount is the access control', async () => {
    const path = join(dir, 'cluster.key');
    const key = await writeClusterKey(path);
    await chmod(path, 0o444);
    expect(await codeOf(() => loadClusterKey(path))).toBe('INSECURE_KEY_FILE');
    expect(await loadClusterKey(path, { requirePrivateMode: false })).toEqual(key);
  });

  it('explains a missing or corrupt key file', async () => {
    expect(await codeOf(() => loadClusterKey(join(dir, 'nope.key')))).toBe('BAD_CLUSTER_KEY');
    const path = join(dir, 'bad.key');
    await writeFile(path, 'hello', { mode: 0o600 });
    expect(await codeOf(() => loadClusterKey(path))).toBe('BAD_CLUSTER_KEY');
  });
});
