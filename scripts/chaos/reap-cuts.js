// Which reaps a force-leave (or reap-timer) fault brought about, from the survivors' statuses.

/**
 * The reaps of `peer`'s epochs new since `doneBefore` (a Set of epochs), once every survivor
 * shows the same ones, each with the same cut: sorted by epoch, or undefined while some survivor
 * shows none, a cut is still open, or two survivors differ. A reap covers every epoch of the
 * member its initiator knows (src/agent/reaper.ts): after an unclean restart, its older epoch
 * too, whose cut may come before the current one's.
 *
 * @param {{ epoch: string, cut?: number }[][]} perSurvivor `compaction.reaps` of each survivor
 * @param {string} peer
 * @param {Set<string>} doneBefore
 * @returns {{ epoch: string, cut: number }[] | undefined}
 */
export function agreedReaps(perSurvivor, peer, doneBefore) {
  const fresh = perSurvivor.map((rs) =>
    rs
      .filter((x) => x.epoch.split('~')[0] === peer && !doneBefore.has(x.epoch))
      .map((x) => ({ epoch: x.epoch, cut: x.cut }))
      .sort((a, b) => a.epoch.localeCompare(b.epoch)),
  );
  const first = fresh[0];
  if (!first || first.length === 0) return undefined;
  if (fresh.some((rs) => rs.some((x) => x.cut === undefined))) return undefined;
  const key = JSON.stringify(first);
  return fresh.every((rs) => JSON.stringify(rs) === key) ? first : undefined;
}
