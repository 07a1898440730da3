// When the agent starts a new epoch (src/agent/epoch.ts), on a real store in a temp dir.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseEpoch, markCleanShutdown } from '../../src/agent/epoch.js';
import { peerOfOrigin } from '../../src/core/origin.js';
import { Store } from '../../src/store/store.js';
import { quiet, tempDir } from './helpers.js';

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function run(dir: string, storeSync: 'normal' | 'full', clean: boolean, identityExisted = true) {
  const store = Store.open({ dataDir: dir, sync: storeSync });
  try {
    const choice = chooseEpoch(store, { peerId: PEER, storeSync, identityExisted, log: quiet });
    // Something written under the epoch, so the store is no longer empty.
    store.appendEvents([{ origin: choice.origin, seq: 1, bytes: new Uint8Array([1]) }]);
    if (clean) markCleanShutdown(store);
    return choice;
  } finally {
    store.close();
  }
}

describe('epoch choice', () => {
  it('a new store gets a fresh epoch; a graceful restart keeps it', () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = run(dir, 'normal', true, false);
    expect(first.reason).toBe('new-store');
    expect(first.epoch).toMatch(/^[0-9a-z]{10}$/);
    expect(peerOfOrigin(first.origin)).toBe(PEER);
    const second = run(dir, 'normal', true);
    expect(second).toEqual({ ...first, reason: 'recovered' });
  });

  it('an identity without a store is said so, and gets a fresh epoch', () => {
    const dir = tempDir();
    dirs.push(dir);
    expect(run(dir, 'normal', true, true).reason).toBe('identity-without-store');
  });

  it('after an unclean stop under storeSync normal, a fresh epoch; under full, the same one', () => {
    const normal = tempDir();
    const full = tempDir();
    dirs.push(normal, full);
    const n1 = run(normal, 'normal', false);
    const n2 = run(normal, 'normal', true);
    expect(n2.reason).toBe('unclean-shutdown');
    expect(n2.origin).not.toBe(n1.origin);
    const f1 = run(full, 'full', false);
    const f2 = run(full, 'full', true);
    expect(f2.reason).toBe('recovered');
    expect(f2.origin).toBe(f1.origin);
  });

  it('a store made before epochs keeps writing under the bare peer id', () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = Store.open({ dataDir: dir, sync: 'normal' });
    store.appendEvents([{ origin: PEER, seq: 1, bytes: new Uint8Array([1]) }]);
    store.close();
    const c = run(dir, 'normal', true);
    expect(c).toEqual({ origin: PEER, epoch: undefined, reason: 'recovered' });
  });
});
