/**
 * The anti-entropy client's progress watchdog (anti-entropy.ts): a pull whose peer sends
 * nothing for stallMs, while we wait for it, is aborted with PullStalled.
 */
/** Abort reason of a pull whose peer stopped sending. */
export class PullStalled extends Error {
  override readonly name = 'PullStalled';
}

/**
 * Aborts `ctl` with PullStalled when, while armed, stallMs pass without a poke (a frame from
 * or to the peer). Disarmed while we apply what the peer sent: our own slowness is not its.
 */
export function watchdog(
  ctl: AbortController,
  stallMs: number,
): { arm: () => void; disarm: () => void; poke: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      ctl.abort(new PullStalled(`the peer sent nothing for ${stallMs} ms`));
    }, stallMs);
  };
  return {
    arm,
    disarm: () => {
      clearTimeout(timer);
      timer = undefined;
    },
    poke: () => {
      if (timer !== undefined) arm();
    },
  };
}
