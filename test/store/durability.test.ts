/**
 * Crash durability (DESIGN.md "Durability"): a child process appends batches and acknowledges
 * each one on stdout after its COMMIT returned; the test SIGKILLs it mid-stream, reopens the
 * store and checks that every acknowledged event survived and no batch was half-written.
 *
 * The child runs the store compiled to dist/ (npm ci builds it through `prepare`); this test
 * builds nothing and fails with instructions if that build is missing or older than the source.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

import { Store, type SyncMode } from '../../src/store/store.js';
import { useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST_STORE = join(ROOT, 'dist', 'store', 'store.js');
const BATCH = 5;
const ACKS_BEFORE_KILL = 200;
const GIVE_UP_MS = 20_000;

/** Fails with an instruction when dist/ would not test the current source. */
function checkBuild(): void {
  if (!existsSync(DIST_STORE)) {
    throw new Error(
      `${DIST_STORE} is missing: run \`npm run build\` (npm ci runs it through prepare) first.`,
    );
  }
  const srcDir = join(ROOT, 'src', 'store');
  for (const name of readdirSync(srcDir).filter((f) => f.endsWith('.ts'))) {
    const built = join(ROOT, 'dist', 'store', name.replace(/\.ts$/, '.js'));
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(srcDir, name)).mtimeMs) {
      throw new Error(`dist/store is older than src/store/${name}: run \`npm run build\` first.`);
    }
  }
}

/** The child's program. Inline, so it needs no file outside the type-checked project. */
function childSource(dataDir: string, sync: SyncMode): string {
  return `
    import { Store } from ${JSON.stringify(pathToFileURL(DIST_STORE).href)};
    const store = Store.open({ dataDir: ${JSON.stringify(dataDir)}, sync: ${JSON.stringify(sync)} });
    const encoder = new TextEncoder();
    // The parent kills this process; the deadline only stops an orphan whose parent died first.
    const deadline = Date.now() + ${GIVE_UP_MS};
    let seq = store.maxSeq('child');
    while (Date.now() < deadline) {
      const batch = [];
      for (let i = 0; i < ${BATCH}; i++) {
        seq++;
        batch.push({ origin: 'child', seq, bytes: encoder.encode('event ' + seq) });
      }
      store.appendEvents(batch);
      // Acknowledged only now that COMMIT has returned. Pipe writes are synchronous on Linux.
      process.stdout.write(seq + '\\n');
    }
    store.close();
  `;
}

interface ChildRun {
  acked: number[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

function runAndKill(dataDir: string, sync: SyncMode): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', childSource(dataDir, sync)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: number[] = [];
    let pending = '';
    let stderr = '';
    const giveUp = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) acked.push(Number(line));
      if (acked.length >= ACKS_BEFORE_KILL && child.signalCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    // 'close' comes after stdout has been drained: every acknowledgement sent has been read.
    child.on('close', (code, signal) => {
      clearTimeout(giveUp);
      resolve({ acked, signal, code, stderr });
    });
  });
}

describe('durability under kill -9', () => {
  it.each<SyncMode>(['normal', 'full'])('keeps every acknowledged write with sync=%s', async (sync) => {
    checkBuild();
    const dataDir = tempDir();
    const run = await runAndKill(dataDir, sync);
    expect(
      run.acked.length,
      `child exited on its own (code ${run.code}): ${run.stderr}`,
    ).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);
    expect(run.signal).toBe('SIGKILL');

    const store = Store.open({ dataDir, sync });
    try {
      const lastAcked = Math.max(...run.acked);
      const stored = store.maxSeq('child');
      expect(stored).toBeGreaterThanOrEqual(lastAcked);
      for (const seq of run.acked) expect(store.hasEvent('child', seq)).toBe(true);
      // Batches are atomic and contiguous: 1..stored, whole batches only, bytes intact.
      expect(stored % BATCH).toBe(0);
      const log = [...store.eventsAfter(0, 1000)];
      expect(log.map((e) => e.seq)).toEqual(Array.from({ length: stored }, (_, i) => i + 1));
      expect(log.every((e) => new TextDecoder().decode(e.bytes) === `event ${e.seq}`)).toBe(true);
      // And the store is writable again after recovery.
      expect(store.appendEvents([{ origin: 'child', seq: stored + 1, bytes: Uint8Array.of(1) }])).toBe(1);
    } finally {
      store.close();
    }
  });
});
