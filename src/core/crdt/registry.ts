/**
 * The CmRDT library (paper §V-A "CmRDT Library"): every type SMAC replicates, by name.
 * Type names are part of an object's address and of the wire format: never rename one.
 */
import { ErrorCode, fail } from '../errors.js';
import { awSet } from './aw-set.js';
import type { AnyCrdt, TypeName } from './crdt.js';
import { ewFlag } from './ew-flag.js';
import { lwwRegister } from './lww-register.js';
import { mvRegister } from './mv-register.js';
import { orMap } from './or-map.js';
import { pnCounter } from './pn-counter.js';
import { rwSet } from './rw-set.js';

let types: ReadonlyMap<TypeName, AnyCrdt> | undefined;

// Built on first use: or-map imports this module, so the table cannot be built at load time.
function table(): ReadonlyMap<TypeName, AnyCrdt> {
  types ??= new Map<TypeName, AnyCrdt>([
    ['pn-counter', pnCounter],
    ['lww-register', lwwRegister],
    ['mv-register', mvRegister],
    ['aw-set', awSet],
    ['rw-set', rwSet],
    ['ew-flag', ewFlag],
    ['or-map', orMap],
  ]);
  return types;
}

/** The implementation of a type. Throws UNKNOWN_TYPE for a name the library does not have. */
export function getType(name: string): AnyCrdt {
  const t = table().get(name as TypeName);
  if (!t)
    fail(
      ErrorCode.UnknownType,
      `Unknown CRDT type ${JSON.stringify(name)}; known types: ${[...table().keys()].join(', ')}.`,
    );
  return t;
}
