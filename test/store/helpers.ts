/**
 * Shared helpers of the store tests: throw-away data directories under the OS temp dir, event
 * fixtures whose bytes name their (origin, seq), and a reference clock over a list of events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';

import type { VectorClock } from '../../src/core/clock/vector-clock.js';
import { isStoreError, type StoreErrorCode } from '../../src/store/store-errors.js';

export interface TestEvent {
  origin: string;
  seq: number;
  bytes: Uint8Array;
}

/** A fresh directory per call, removed after the current test. */
export function useTempDirs(): () => string {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'smac-store-'));
    made.push(d);
    return d;
  };
}

export function ev(origin: string, seq: number): TestEvent {
  return { origin, seq, bytes: new TextEncoder().encode(`${origin}#${seq}`) };
}

/** Per origin, the highest seq among `events`. */
export function clockOf(events: readonly { origin: string; seq: number }[]): VectorClock {
  const vc: VectorClock = new Map();
  for (const e of events) if (e.seq > (vc.get(e.origin) ?? 0)) vc.set(e.origin, e.seq);
  return vc;
}

export function expectStoreError(fn: () => unknown, code: StoreErrorCode, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isStoreError(caught), `expected a StoreError ${code}, got ${String(caught)}`).toBe(true);
  if (!isStoreError(caught)) return;
  expect(caught.code).toBe(code);
  if (message) expect(caught.message).toMatch(message);
}
