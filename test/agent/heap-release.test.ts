import { describe, expect, it } from 'vitest';
import {
  type Busy,
  DEFAULT_HEAP_RELEASE,
  type HeapReleaseHost,
  shouldRelease,
  startHeapRelease,
} from '../../src/agent/heap-release.js';

const MB = 2 ** 20;
const policy = { ...DEFAULT_HEAP_RELEASE, intervalMs: 3_600_000 };
const idle = { cpu: 0.02, loop: 0.02 };

describe('shouldRelease', () => {
  it('releases once at the first idle check, then only after RSS grew by growthBytes', () => {
    expect(shouldRelease(0, 160 * MB, idle, {}, policy)).toBe(true);
    const after = { lastReleaseAt: 0, rssAfterRelease: 120 * MB };
    expect(shouldRelease(120_000, 140 * MB, idle, after, policy)).toBe(false);
    expect(shouldRelease(120_000, 152 * MB, idle, after, policy)).toBe(true);
  });

  it('never while the process used CPU or its event loop was saturated', () => {
    expect(shouldRelease(0, 400 * MB, { cpu: policy.maxCpu + 0.01, loop: 0.02 }, {}, policy)).toBe(false);
    expect(shouldRelease(0, 400 * MB, { cpu: 0.02, loop: policy.maxLoop + 0.01 }, {}, policy)).toBe(false);
    // An idle agent on an overloaded host: little CPU, its few callbacks stretched in wall time.
    expect(shouldRelease(0, 400 * MB, { cpu: 0.02, loop: 0.2 }, {}, policy)).toBe(true);
  });

  it('not twice within minGapMs, however much RSS grew', () => {
    const after = { lastReleaseAt: 1_000, rssAfterRelease: 100 * MB };
    expect(shouldRelease(1_000 + policy.minGapMs - 1, 900 * MB, idle, after, policy)).toBe(false);
    expect(shouldRelease(1_000 + policy.minGapMs, 900 * MB, idle, after, policy)).toBe(true);
  });
});

/** A host whose clock, RSS and load the test sets; collect() lowers RSS to `freedTo`. */
function fakeHost(): HeapReleaseHost & {
  t: number;
  rssNow: number;
  load: Busy;
  freedTo: number;
  collects: number;
} {
  const h = {
    t: 0,
    rssNow: 160 * MB,
    load: idle,
    freedTo: 120 * MB,
    collects: 0,
    now: () => h.t,
    rss: () => h.rssNow,
    busy: () => h.load,
    collect: () => {
      h.collects++;
      h.rssNow = h.freedTo;
      return Promise.resolve();
    },
  };
  return h;
}

describe('startHeapRelease', () => {
  it('collects when idle after growth, measures RSS after the collection, and waits for new growth', async () => {
    const host = fakeHost();
    const release = startHeapRelease({ policy, host });
    try {
      expect(await release.check()).toBe(true);
      expect(host.collects).toBe(1);
      // A load: busy, RSS grows; nothing happens while busy.
      host.t += policy.minGapMs;
      host.load = { cpu: 0.9, loop: 0.9 };
      host.rssNow = 300 * MB;
      expect(await release.check()).toBe(false);
      // Idle again: one release, from the RSS measured after the first one (120 MB).
      host.load = idle;
      expect(await release.check()).toBe(true);
      expect(host.collects).toBe(2);
      host.t += policy.minGapMs;
      host.rssNow = 130 * MB;
      expect(await release.check()).toBe(false);
      expect(host.collects).toBe(2);
    } finally {
      release.stop();
    }
  });

  it('does not start a second collection while one runs', async () => {
    const host = fakeHost();
    let finish!: () => void;
    host.collect = () => {
      host.collects++;
      return new Promise<void>((resolve) => (finish = resolve));
    };
    const release = startHeapRelease({ policy, host });
    try {
      const first = release.check();
      expect(await release.check()).toBe(false);
      finish();
      expect(await first).toBe(true);
      expect(host.collects).toBe(1);
    } finally {
      release.stop();
    }
  });
});
