/**
 * LWW-register (Shapiro et al., INRIA RR-7506, §3.2.1, Specs 8-9): a reader sees the write with the
 * greatest timestamp, here the hybrid logical clock (DESIGN.md "Data model"), ties broken by
 * origin. Unlike the paper's single-slot register, a write that causally follows another
 * overwrites it explicitly (even if its HLC is smaller, as after a drift clamp), and concurrent
 * writes are all kept, the loser hidden; see register-entries.ts for why that makes deletes exact.
 */
import { compareHlc } from '../clock/hlc.js';
import type { Json } from '../json.js';
import type { CrdtType } from './crdt.js';
import {
  type RegisterDown,
  type RegisterEntry,
  type RegisterOp,
  type RegisterState,
  makeRegisterType,
} from './register-entries.js';

export type LwwRegisterState = RegisterState;
export type LwwRegisterOp = RegisterOp;
export type LwwRegisterDown = RegisterDown;

/** Orders concurrent writes: HLC, then origin, then seq (only so the order is total). */
export function compareLww(a: RegisterEntry, b: RegisterEntry): number {
  const byHlc = compareHlc(a.hlc, b.hlc);
  if (byHlc !== 0) return byHlc;
  if (a.dot.origin !== b.dot.origin) return a.dot.origin < b.dot.origin ? -1 : 1;
  return a.dot.seq - b.dot.seq;
}

function winner(entries: readonly RegisterEntry[]): Json {
  let best: RegisterEntry | undefined;
  for (const e of entries) if (!best || compareLww(e, best) > 0) best = e;
  return best ? best.value : null;
}

export const lwwRegister: CrdtType<LwwRegisterState, LwwRegisterOp, LwwRegisterDown> = makeRegisterType(
  'lww-register',
  winner,
);
