// The nemesis harness's view of reaps (scripts/chaos/nemesis.js): which kinds a run plans, and
// how a reap that no fault asked for (a reapAfterMs timer firing during a slow restart) is
// checked from the member's own log lines, its rebase window counted as a store loss.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChaosOp } from '../../scripts/chaos/checker.js';
import { FAULT_KINDS, Nemesis, type ReapRecord } from '../../scripts/chaos/nemesis.js';
import { agreedReaps, rebaseFailures } from '../../scripts/chaos/reap-cuts.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function agent(
  peerId: string,
  lines: object[],
): { peerId: string; dir: string; storeLosses: (number | number[])[] } {
  const dir = mkdtempSync(join(tmpdir(), 'smac-chaos-reaps-'));
  dirs.push(dir);
  const text = ['--- start 1', ...lines.map((l) => JSON.stringify(l)), '--- exit code=null signal=SIGKILL'];
  writeFileSync(join(dir, 'agent.log'), `${text.join('\n')}\n`);
  return { peerId, dir, storeLosses: [] };
}

function nemesis(agents: ReturnType<typeof agent>[], ops: ChaosOp[], reapAfterMs?: number): Nemesis {
  return new Nemesis({
    rng: undefined,
    agents,
    apis: [],
    clients: [],
    net: undefined,
    history: { ops },
    storeLoss: true,
    reapAfterMs,
    log: () => undefined,
  });
}

function ok(agentIndex: number, origin: string, seq: number): ChaosOp {
  return {
    id: seq,
    agent: agentIndex,
    type: 'pn-counter',
    key: 'k',
    op: {},
    start: seq,
    end: seq + 1,
    outcome: 'ok',
    origin,
    seq,
  };
}

/**
 * Runs one force-leave fault of a1 (of three agents; under fake timers) whose survivors show
 * `shown(asked)` as their reaps, `asked` once the force-leave was requested; `onAsk` runs then.
 */
async function forceLeaveOfA1(
  shown: (asked: boolean) => unknown[],
  ops: ChaosOp[],
  onAsk: (a1: ReturnType<typeof agent>) => void = () => undefined,
): Promise<{ n: Nemesis; f: ReapRecord }> {
  const a1 = agent('P1', []);
  const three = [agent('P0', []), a1, agent('P2', [])];
  const agents = three.map((a) => ({
    ...a,
    state: 'running',
    kill: () => Promise.resolve(),
    start: () => Promise.resolve(),
  }));
  let asked = false;
  const api = (i: number) => ({
    get: () => Promise.resolve({ compaction: { reaps: shown(asked) }, counters: { compactions: i } }),
    request: () => {
      asked = true;
      onAsk(a1);
      return Promise.resolve({ outcome: 'ok', status: 200, body: {} });
    },
  });
  const n = new Nemesis({
    rng: { int: (lo: number) => lo, chance: () => false, pick: <T>(xs: T[]) => xs[0] },
    agents,
    apis: [api(0), api(1), api(2)],
    clients: [],
    net: { isolate: () => undefined, healAll: () => undefined },
    history: { ops },
    storeLoss: true,
    log: () => undefined,
  });
  const f = { kind: 'force-leave', targets: [1], start: 0, end: 0, hold: 100 } as unknown as ReapRecord;
  const done = n.forceLeave(f, 1, new Map());
  await vi.runAllTimersAsync();
  await done;
  return { n, f };
}

describe('the nemesis and reaps', () => {
  it('plans reap-timer only with --reap-after, and last (a seed without it keeps its plan)', () => {
    expect(nemesis([], []).kinds).toEqual(FAULT_KINDS);
    expect(nemesis([], [], 30_000).kinds).toEqual([...FAULT_KINDS, 'reap-timer']);
  });

  it('checks an unplanned reap from the member log: rebase, re-run, and its window as a store loss', () => {
    const a0 = agent('P0', []);
    const a1 = agent('P1', [
      { time: 1_000, reaped: 'P1~old', cut: 5, held: 8, origin: 'P1~new', rerun: 3, abandoned: 'P1~mid' },
      { time: 4_000, rerun: 3 },
    ]);
    const n = nemesis(
      [a0, a1],
      [ok(1, 'P1~old', 5), ok(1, 'P1~old', 6), ok(1, 'P1~old', 7), ok(1, 'P1~old', 8)],
    );
    const [r, ...rest] = n.unplannedReaps([{ epoch: 'P1~old', cut: 5 }, { epoch: 'P0~x' }]);
    expect(rest).toEqual([]); // no cut yet: not a reap
    expect(r?.targets).toEqual([1]);
    expect(r?.beyond).toBe(3);
    expect(r?.rebase).toMatchObject({ cut: 5, rerun: 3, abandoned: 'P1~mid', time: 1_000, done: 4_000 });
    expect(a1.storeLosses).toEqual([[1_000, 4_000]]);
  });

  it('leaves planned reaps alone; an unplanned one with no rebase logged keeps its count beyond the cut', () => {
    const a0 = agent('P0', []);
    const n = nemesis([a0], [ok(0, 'P0~e', 9)]);
    n.faults.push({ kind: 'force-leave', targets: [0], reap: { epoch: 'P0~planned', cut: 1 }, end: 0 });
    const out = n.unplannedReaps([
      { epoch: 'P0~planned', cut: 1 },
      { epoch: 'P0~e', cut: 4 },
    ]);
    expect(out.map((r) => r.reap.epoch)).toEqual(['P0~e']);
    expect(out[0]?.rebase).toBeUndefined();
    expect(out[0]?.beyond).toBe(1); // the run fails it: acknowledged beyond the cut, never re-run
    expect(a0.storeLosses).toEqual([]);
  });
});

describe('the force-leave fault and a member with an older epoch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Seed 6 (5 agents, 60 s) failed with "a2 was reaped at 2 but logged no rebase": a kill mid-write
  // had given a2 a new epoch at restart, so the force-leave reaped both of its epochs, the old one
  // at its last seq (2). The fault paired itself with the first reap it saw (the old epoch), and
  // looked for a rebase line naming it; a2 rebased from the epoch it held beyond its cut, the
  // current one, and logged that.
  it('pairs itself with the reaped epoch the member rebased from, and waits for every cut', async () => {
    vi.useFakeTimers();
    const rebase = { time: 5, reaped: 'P1~cur', cut: 40, held: 45, origin: 'P1~new', rerun: 5 };
    const reaps = [
      { epoch: 'P1~aaa-old', cut: 2 }, // sorted before the current epoch, as in seed 6
      { epoch: 'P1~cur', cut: 40 },
    ];
    let polls = 0;
    // The current epoch's cut comes a few polls after the old one's.
    const shown = (asked: boolean) => (!asked ? [] : ++polls < 10 ? [reaps[0], { epoch: 'P1~cur' }] : reaps);
    const ops = [1, 2, 41, 42, 43, 44, 45].map((s) => ok(1, s <= 2 ? 'P1~aaa-old' : 'P1~cur', s));
    const { n, f } = await forceLeaveOfA1(shown, ops, (a1) => {
      appendFileSync(
        join(a1.dir, 'agent.log'),
        `${JSON.stringify(rebase)}\n${JSON.stringify({ time: 9, rerun: 5 })}\n`,
      );
    });
    expect(f.reap).toEqual(expect.objectContaining({ epoch: 'P1~cur', cut: 40 }));
    expect(f.rebase).toMatchObject({ cut: 40, rerun: 5 });
    // Both epochs are this fault's: neither counts as a reap no fault asked for.
    n.faults.push(f);
    expect(n.unplannedReaps(reaps)).toEqual([]);
  });
});

describe('the force-leave fault and a member back from a store loss', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Seed 102 (5 agents, 60 s) failed with "a3 was reaped at 145 but logged no rebase", although
  // the replicas converged and every other check passed. A kill had given a3 a second epoch, a
  // store loss a third; isolated 12 s later (the force-leave fault) before it reached anyone, it
  // wrote 61 acknowledged writes under that third epoch, which no survivor knew. The survivors
  // reaped the two epochs they knew (cut 10 and 145), where a3 held nothing beyond the cut: its
  // store was gone. So it had nothing to rebase from, kept writing under its epoch, and the
  // survivors took those writes as a reaped member's return (docs/agent.md "Reaping").
  it('needs no rebase when it reaped only epochs the member no longer wrote under, with nothing beyond their cuts', async () => {
    vi.useFakeTimers();
    const reaps = [
      { epoch: 'P1~first', cut: 145 },
      { epoch: 'P1~killed', cut: 10 },
    ];
    const ops = [
      ...[144, 145].map((s) => ok(1, 'P1~first', s)),
      ...[9, 10].map((s) => ok(1, 'P1~killed', s)),
      ...[1, 2, 3].map((s) => ok(1, 'P1~after-store-loss', s)),
    ];
    const { f } = await forceLeaveOfA1((asked) => (asked ? reaps : []), ops); // no rebase line
    expect(f.reaps?.map((r) => [r.epoch, r.cut])).toEqual(reaps.map((r) => [r.epoch, r.cut]));
    expect(rebaseFailures([f], ops)).toEqual([]);
    // Its replay failed the same way (and passes now): a write beyond the cut that the store loss
    // threw away (held by no other agent then: the fault made it unknown) needs no rebase either.
    const thrownAway = { ...ok(1, 'P1~killed', 11), lostWithStore: true } as ChaosOp;
    expect(rebaseFailures([f], [...ops, thrownAway])).toEqual([]);
    // Had it acknowledged a write beyond a cut, or been writing under a reaped epoch, it must
    // have rebased.
    expect(rebaseFailures([f], [...ops, ok(1, 'P1~killed', 11)])).toEqual([
      'a1 was reaped at 10 but logged no rebase',
    ]);
    const current = { ...f, writingUnder: 'P1~first' } as ReapRecord;
    expect(rebaseFailures([current], ops)).toEqual(['a1 was reaped at 10 but logged no rebase']);
  });
});

describe('the force-leave fault and a survivor catching up after a store loss', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Seed 7 (5 agents, 120 s, load 44-52) failed with "no force-leave completed a reap": the
  // force-leave of a1 came right after a2's store loss, and a2, restarted with an empty store,
  // installed a peer's state 35 s later and reported on the reap at once, 0.9 s after the
  // fault's 30 s wait for the agreed cut had run out. The reap completed (a1 rebased and re-ran
  // 255 writes, checked as an unplanned reap), and every other check passed.
  it('waits long enough for the cut on a loaded machine', async () => {
    vi.useFakeTimers();
    const reaps = [{ epoch: 'P1~e', cut: 86 }];
    let askedAt: number | undefined;
    const shown = (asked: boolean): unknown[] => {
      if (!asked) return [];
      askedAt ??= Date.now();
      return Date.now() - askedAt >= 36_000 ? reaps : [{ epoch: 'P1~e' }];
    };
    const { f } = await forceLeaveOfA1(shown, [ok(1, 'P1~e', 86)]);
    expect(f.reap).toEqual(expect.objectContaining({ epoch: 'P1~e', cut: 86 }));
  });
});

describe('a re-run thrown away with its store', () => {
  // Seed 4 (5 agents, 120 s, load 33-44) failed with "a2 was reaped at 2 and started its rebase
  // (held 63, 70 writes to re-run) but never logged the end of the re-run", while the replicas
  // converged and every other check passed. a2 rebased at 05:23:55; its re-run, one durable
  // write after another at that load (50-210 s for 56-268 writes in these runs), had not ended
  // when the store-loss fault deleted its store at 05:24:46, its pending re-run with it. The
  // fault had made those 70 writes unknown (held by no other agent), as the operator threw
  // them away: no end of the re-run can come.
  const leave = (time: number): ReapRecord => ({
    kind: 'force-leave',
    targets: [2],
    reap: { epoch: 'P2~a', cut: 2 },
    reaps: [{ epoch: 'P2~a', cut: 2 }],
    end: 0,
    rerunUnfinished: { time, held: 63, rerun: 70 },
  });
  const unfinished =
    'a2 was reaped at 2 and started its rebase (held 63, 70 writes to re-run) but never logged the end of the re-run';

  it('expects no end of a re-run after a store loss of its member', () => {
    const storeLoss = { kind: 'store-loss', targets: [2], start: 2_000 };
    expect(rebaseFailures([leave(1_000)], [], [storeLoss])).toEqual([]);
  });

  it('still expects it after a store loss before the rebase, or of another agent', () => {
    expect(rebaseFailures([leave(3_000)], [], [{ kind: 'store-loss', targets: [2], start: 2_000 }])).toEqual([
      unfinished,
    ]);
    expect(rebaseFailures([leave(1_000)], [], [{ kind: 'store-loss', targets: [1], start: 2_000 }])).toEqual([
      unfinished,
    ]);
    expect(rebaseFailures([leave(1_000)], [], [{ kind: 'kill', targets: [2], start: 2_000 }])).toEqual([
      unfinished,
    ]);
  });
});

describe('agreedReaps', () => {
  const old = { epoch: 'P1~a', cut: 2 };
  const cur = { epoch: 'P1~b', cut: 40 };
  it('waits until every survivor shows the same new reaps of the member, each with its cut', () => {
    expect(agreedReaps([[old, cur], [cur]], 'P1', new Set())).toBeUndefined();
    expect(
      agreedReaps(
        [
          [old, cur],
          [old, { ...cur, cut: 41 }],
        ],
        'P1',
        new Set(),
      ),
    ).toBeUndefined();
    expect(
      agreedReaps(
        [
          [old, { epoch: 'P1~b' }],
          [old, cur],
        ],
        'P1',
        new Set(),
      ),
    ).toBeUndefined();
    expect(agreedReaps([[], []], 'P1', new Set())).toBeUndefined();
    expect(
      agreedReaps(
        [
          [cur, old, { epoch: 'P0~x', cut: 3 }],
          [old, cur],
        ],
        'P1',
        new Set(),
      ),
    ).toEqual([old, cur]);
  });

  it('leaves out the reaps done before the fault', () => {
    expect(
      agreedReaps(
        [
          [old, cur],
          [old, cur],
        ],
        'P1',
        new Set(['P1~a']),
      ),
    ).toEqual([cur]);
  });
});
