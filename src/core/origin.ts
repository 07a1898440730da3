/**
 * Origins and epochs (DESIGN.md "Durability"; issue 7, "Origin epochs").
 *
 * An origin — the writer named in an event's (origin, seq) — is a peer id and a store epoch:
 * `<peer id>~<epoch>`. A new, lost or possibly rolled-back store starts a fresh epoch, so an
 * (origin, seq) pair is never reused whatever happens to the disk. Stores made before epochs
 * existed write as the bare peer id (the legacy epoch) until their next new epoch.
 *
 * The peer id part is what signs the events and what membership, ownership and stability
 * speak of; the epoch only keeps sequence numbers apart.
 */

export const EPOCH_SEPARATOR = '~';
const EPOCH_RE = /^[0-9a-z]{1,16}$/;

/** The origin of `peerId`'s epoch `epoch` (`undefined`: the legacy epoch, the bare peer id). */
export function originOf(peerId: string, epoch: string | undefined): string {
  if (epoch === undefined) return peerId;
  if (!EPOCH_RE.test(epoch))
    throw new RangeError(`An epoch is 1-16 lowercase letters or digits (got ${epoch}).`);
  return `${peerId}${EPOCH_SEPARATOR}${epoch}`;
}

/** The peer id an origin belongs to (the key that must have signed its events). */
export function peerOfOrigin(origin: string): string {
  const i = origin.indexOf(EPOCH_SEPARATOR);
  return i < 0 ? origin : origin.slice(0, i);
}

/** The epoch part of an origin, or undefined for the legacy epoch. */
export function epochOfOrigin(origin: string): string | undefined {
  const i = origin.indexOf(EPOCH_SEPARATOR);
  return i < 0 ? undefined : origin.slice(i + 1);
}

/** Whether `origin` is well formed: a peer id, optionally with one valid epoch. */
export function isWellFormedOrigin(origin: string): boolean {
  const i = origin.indexOf(EPOCH_SEPARATOR);
  if (i < 0) return origin.length > 0;
  return i > 0 && EPOCH_RE.test(origin.slice(i + 1));
}
