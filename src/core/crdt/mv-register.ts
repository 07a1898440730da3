/**
 * MV-register (Shapiro et al., INRIA RR-7506, §3.2.2, Spec 10): a write overwrites what its source had
 * observed, and concurrent writes all stay visible as siblings until a write that observed them
 * replaces them. The value is the array of the distinct sibling values ordered by canonical
 * JSON, so every replica returns the same array; `[]` when unset. Shares its state and ops with
 * the LWW-register (register-entries.ts).
 */
import { type Json, canonicalJson } from '../json.js';
import type { CrdtType } from './crdt.js';
import {
  type RegisterDown,
  type RegisterEntry,
  type RegisterOp,
  type RegisterState,
  makeRegisterType,
} from './register-entries.js';

export type MvRegisterState = RegisterState;
export type MvRegisterOp = RegisterOp;
export type MvRegisterDown = RegisterDown;

function siblings(entries: readonly RegisterEntry[]): Json {
  const byCanon = new Map<string, Json>();
  // Values were size-checked when parsed; here canonicalJson only names them.
  for (const e of entries) byCanon.set(canonicalJson(e.value, Number.POSITIVE_INFINITY), e.value);
  return [...byCanon.keys()].sort().map((k) => byCanon.get(k) ?? null);
}

export const mvRegister: CrdtType<MvRegisterState, MvRegisterOp, MvRegisterDown> = makeRegisterType(
  'mv-register',
  siblings,
);
