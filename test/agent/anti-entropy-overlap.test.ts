// After a partition heals (issue 8) the returning member connects to every member of the other
// side within a second or so and pulls from each: every one of them answers with the same
// backlog, and the returning member, the one with the most to catch up, received and decoded it
// once per peer (dropping the copies only after reading them). A pull whose responder, by its
// header, holds little beyond what another running pull's responder holds now ends after the
// header and runs again once that pull ended (then bringing only the rest); a pull still running
// after the stall time lets it go all the same.
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { AntiEntropy } from '../../src/agent/anti-entropy.js';
import { mostlyCovered, mostlyHeld } from '../../src/agent/pull-overlap.js';
import type { ReadonlyVectorClock, VectorClock } from '../../src/core/clock/vector-clock.js';
import type { SyncFrame, SyncService } from '../../src/net/sync-protocol.js';
import type { Store } from '../../src/store/store.js';
import { idOf, newKey } from '../net/helpers.js';
import { quiet, waitFor } from './helpers.js';

/** What one peer answers: its clock, and whether its events come (or its pull fails). */
interface Script {
  vc: VectorClock;
  /** Opens once the test lets the events go: true sends them, false fails the pull. */
  gate: Promise<boolean>;
  /** Then sends a frame every 20 ms until the pull is aborted, instead of ending. */
  trickle?: boolean;
  /** Runs before the header is handed out (say, another pull applied events meanwhile). */
  beforeHeader?: () => void;
}

/** A sync service whose answers the test scripts and holds at will. */
class ScriptedSync {
  readonly scripts = new Map<string, Script[]>();
  readonly pulls: string[] = [];
  /** The clock each request carried, in order. */
  readonly asked: ReadonlyVectorClock[] = [];
  /** Per peer: events frames handed out, and pulls closed right after their header. */
  readonly eventsSent = new Map<string, number>();
  readonly closedAfterHeader: string[] = [];
  /** Peers whose header was read and the next frame asked for. */
  readonly pastHeader = new Set<string>();

  async *pull(
    peer: PeerId,
    vc: ReadonlyVectorClock,
    opts: { signal?: AbortSignal },
  ): AsyncGenerator<SyncFrame> {
    const id = peer.toString();
    this.pulls.push(id);
    this.asked.push(new Map(vc));
    const script = this.scripts.get(id)?.shift();
    if (!script) throw new Error(`no script for a pull from ${id}`);
    let past = false;
    try {
      script.beforeHeader?.();
      yield { type: 'header', vc: script.vc, compacted: new Map(), snapshot: false };
      past = true;
      this.pastHeader.add(id);
      if (!(await script.gate)) throw new Error('the connection closed');
      this.eventsSent.set(id, (this.eventsSent.get(id) ?? 0) + 1);
      yield { type: 'events', envelopes: [new Uint8Array([1])] };
      while (script.trickle && opts.signal?.aborted !== true) {
        await new Promise((r) => setTimeout(r, 20));
        yield { type: 'events', envelopes: [new Uint8Array([1])] };
      }
      yield { type: 'end', events: 1 };
    } finally {
      if (!past) this.closedAfterHeader.push(id);
    }
  }
}

function gate(): { promise: Promise<boolean>; open: (ok: boolean) => void } {
  let open: (ok: boolean) => void = () => undefined;
  const promise = new Promise<boolean>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

let client: AntiEntropy | undefined;
afterEach(() => {
  client?.stop();
  client = undefined;
});

async function rig(
  stallMs = 60_000,
  mine: VectorClock = new Map(),
  heartbeats = new Map<string, VectorClock>(),
): Promise<{ ae: AntiEntropy; sync: ScriptedSync; a: PeerId; b: PeerId }> {
  const a = peerIdFromString(idOf(await newKey()));
  const b = peerIdFromString(idOf(await newKey()));
  const sync = new ScriptedSync();
  const ae = new AntiEntropy({
    store: undefined as unknown as Store,
    // Envelopes go through the receiver, which would open them: nothing is applied here.
    receive: () => Promise.resolve(),
    install: () => Promise.resolve(true),
    halted: () => false,
    peerClock: (id) => heartbeats.get(id),
    sync: sync as unknown as SyncService,
    log: quiet,
    counters: { syncsStarted: 0, syncsFailed: 0, syncsStalled: 0, rejectedEvents: 0, divergedPulls: 0 },
    config: { maxConcurrentPulls: 3, stallMs, timeoutMs: 60_000 },
    now: Date.now,
    clock: () => new Map(mine),
    connectedPeers: () => [a, b],
  });
  // The frames carry no real envelopes: what matters is which frames are read.
  ae.receiveRaw = () => Promise.resolve();
  client = ae;
  return { ae, sync, a, b };
}

describe('anti-entropy: concurrent pulls of the same backlog (issue 8, after a heal)', () => {
  // (Pulls on heartbeats: one on a new connection would not even ask while another such runs.)
  it('ends a pull after its header when another running pull brings nearly every event it holds, and asks again after it', async () => {
    const { ae, sync, a, b } = await rig();
    const ga = gate();
    const gb = gate();
    const backlog = new Map([['o~e', 1200]]);
    sync.scripts.set(a.toString(), [{ vc: backlog, gate: ga.promise }]);
    // b also wrote a record as it reconnected: a few events beyond a's, on the side.
    const more = new Map([...backlog, ['b~e', 2]]);
    sync.scripts.set(b.toString(), [
      { vc: more, gate: gb.promise },
      { vc: more, gate: Promise.resolve(true) },
    ]);
    const pullA = ae.trigger(a, 'heartbeat');
    await waitFor(() => sync.pastHeader.has(a.toString()), "a's header to be read");
    const pullB = ae.trigger(b, 'heartbeat');
    gb.open(true); // b would send its events at once, were they read
    await pullB;
    expect(sync.closedAfterHeader).toEqual([b.toString()]);
    expect(sync.eventsSent.get(b.toString())).toBeUndefined();
    ga.open(true);
    await pullA;
    expect(sync.eventsSent.get(a.toString())).toBe(1);
    // Once a's pull ended, b is asked again (for the rest: its two records).
    await waitFor(() => sync.eventsSent.get(b.toString()) === 1, 'b pulled again after a');
    expect(sync.pulls).toEqual([a.toString(), b.toString(), b.toString()]);
  });

  it('reads both when each responder holds events the other lacks', async () => {
    const { ae, sync, a, b } = await rig();
    const ga = gate();
    const gb = gate();
    sync.scripts.set(a.toString(), [{ vc: new Map([['o~e', 1200]]), gate: ga.promise }]);
    sync.scripts.set(b.toString(), [
      {
        // b holds 900 events a does not: too many to leave for later.
        vc: new Map([
          ['o~e', 600],
          ['p~e', 900],
        ]),
        gate: gb.promise,
      },
    ]);
    const pullA = ae.trigger(a, 'heartbeat');
    await waitFor(() => sync.pastHeader.has(a.toString()), "a's header to be read");
    const pullB = ae.trigger(b, 'heartbeat');
    ga.open(true);
    gb.open(true);
    await Promise.all([pullA, pullB]);
    expect(sync.closedAfterHeader).toEqual([]);
    expect(sync.eventsSent.get(a.toString())).toBe(1);
    expect(sync.eventsSent.get(b.toString())).toBe(1);
  });

  it('pulls at once from the peers that deferred to a pull that then fails', async () => {
    const { ae, sync, a, b } = await rig();
    const ga = gate();
    const backlog = new Map([['o~e', 1200]]);
    sync.scripts.set(a.toString(), [{ vc: backlog, gate: ga.promise }]);
    sync.scripts.set(b.toString(), [
      { vc: new Map(backlog), gate: Promise.resolve(true) },
      { vc: new Map(backlog), gate: Promise.resolve(true) },
    ]);
    const pullA = ae.trigger(a, 'heartbeat');
    await waitFor(() => sync.pastHeader.has(a.toString()), "a's header to be read");
    await ae.trigger(b, 'heartbeat');
    expect(sync.closedAfterHeader).toEqual([b.toString()]);
    ga.open(false); // a's connection closes before its events came
    await pullA;
    await waitFor(() => sync.eventsSent.get(b.toString()) === 1, 'b pulled again, its events read');
    expect(sync.pulls).toEqual([a.toString(), b.toString(), b.toString()]);
  });

  it('pulls a deferred peer anyway once the pull it deferred to has run for the stall time (a trickling responder)', async () => {
    const { ae, sync, a, b } = await rig(150);
    const backlog = new Map([['o~e', 1200]]);
    sync.scripts.set(a.toString(), [{ vc: backlog, gate: Promise.resolve(true), trickle: true }]);
    sync.scripts.set(b.toString(), [
      { vc: new Map(backlog), gate: Promise.resolve(true) },
      { vc: new Map(backlog), gate: Promise.resolve(true) },
    ]);
    void ae.trigger(a, 'heartbeat');
    await waitFor(() => sync.pastHeader.has(a.toString()), "a's header to be read");
    await ae.trigger(b, 'heartbeat');
    expect(sync.closedAfterHeader).toEqual([b.toString()]);
    // a keeps sending (its watchdog never fires) but never ends: b's turn comes all the same.
    await waitFor(() => sync.eventsSent.get(b.toString()) === 1, 'b pulled again, its events read');
    expect(ae.pulling()).toEqual([a.toString()]);
  });
});

describe('anti-entropy: pulls that wait for another before they ask (issue 8, after a heal)', () => {
  // A responder sends its whole response at once (up to the stream's 256 KiB window): a pull
  // ended after its header has cost it and us that much already. So a pull that would most
  // likely bring what a running pull brings waits for that one before it asks at all.
  it('a pull on a second new connection waits for the running pull on the first, then asks with the clock it brought', async () => {
    const mine: VectorClock = new Map();
    const { ae, sync, a, b } = await rig(60_000, mine);
    const ga = gate();
    const backlog = new Map([['o~e', 1200]]);
    sync.scripts.set(a.toString(), [{ vc: backlog, gate: ga.promise }]);
    sync.scripts.set(b.toString(), [{ vc: new Map([...backlog, ['b~e', 2]]), gate: Promise.resolve(true) }]);
    const pullA = ae.connected(a);
    await ae.connected(b); // a's header not even read yet
    expect(sync.pulls).toEqual([a.toString()]);
    ga.open(true);
    mine.set('o~e', 1200); // what a's pull brought
    await pullA;
    await waitFor(() => sync.eventsSent.get(b.toString()) === 1, 'b pulled after a');
    expect(sync.asked.map((vc) => vc.get('o~e') ?? 0)).toEqual([0, 1200]);
    await waitFor(() => ae.pulling().length === 0, "b's pull to end");
    expect(ae.pulls.recent().map((r) => `${r.trigger} ${r.outcome}`)).toEqual([
      'connect done',
      'connect deferred',
      'deferred done',
    ]);
  });

  it('a heartbeat pull whose peer a running pull covers waits for it; rounds leave that peer alone meanwhile', async () => {
    const backlog = new Map([['o~e', 1200]]);
    const heartbeats = new Map<string, VectorClock>();
    const { ae, sync, a, b } = await rig(60_000, new Map(), heartbeats);
    heartbeats.set(b.toString(), new Map([...backlog, ['b~e', 2]])); // b got the backlog first
    const ga = gate();
    sync.scripts.set(a.toString(), [{ vc: backlog, gate: ga.promise }]);
    sync.scripts.set(b.toString(), [{ vc: new Map([...backlog, ['b~e', 2]]), gate: Promise.resolve(true) }]);
    const pullA = ae.connected(a);
    await waitFor(() => sync.pastHeader.has(a.toString()), "a's header to be read");
    await ae.trigger(b, 'heartbeat');
    ae.round();
    expect(sync.pulls).toEqual([a.toString()]);
    ga.open(true);
    await pullA;
    await waitFor(() => sync.eventsSent.get(b.toString()) === 1, 'b pulled after a');
    expect(sync.pulls).toEqual([a.toString(), b.toString()]);
  });
});

describe('anti-entropy: a pull whose request went stale before its header (issue 8, after a heal)', () => {
  // A pull asks with our clock when it starts; on a loaded link its stream and header can take
  // a second or more, while another pull applies the same backlog. The responder then sends
  // everything since the old clock: before, all of it was received and decoded, the copies
  // dropped only after (a repair pull after a heal read 2,247 such copies in scripts/wan/heal.js).
  it('ends after the header, reading no events, when we hold all it would send by then', async () => {
    const mine: VectorClock = new Map();
    const { ae, sync, a } = await rig(60_000, mine);
    sync.scripts.set(a.toString(), [
      {
        vc: new Map([['o~e', 1200]]),
        gate: Promise.resolve(true),
        beforeHeader: () => mine.set('o~e', 1200), // another pull applied them meanwhile
      },
    ]);
    await ae.connected(a);
    expect(sync.closedAfterHeader).toEqual([a.toString()]);
    expect(sync.eventsSent.get(a.toString())).toBeUndefined();
    expect(sync.pulls).toEqual([a.toString()]); // nothing left to ask for
    expect(ae.pulls.recent().map((r) => r.outcome)).toEqual(['held']);
  });

  it('ends after the header and asks again at once with our clock when we hold most of it by then', async () => {
    const mine: VectorClock = new Map();
    const { ae, sync, a } = await rig(60_000, mine);
    const backlog = new Map([['o~e', 1200]]);
    sync.scripts.set(a.toString(), [
      { vc: backlog, gate: Promise.resolve(true), beforeHeader: () => mine.set('o~e', 1000) },
      { vc: backlog, gate: Promise.resolve(true) },
    ]);
    await ae.connected(a);
    await waitFor(() => sync.eventsSent.get(a.toString()) === 1, 'a pulled again, its events read');
    expect(sync.closedAfterHeader).toEqual([a.toString()]);
    expect(sync.asked.map((vc) => vc.get('o~e') ?? 0)).toEqual([0, 1000]);
    await waitFor(() => ae.pulling().length === 0, 'the second pull to end');
    expect(ae.pulls.recent().map((r) => `${r.trigger} ${r.outcome}`)).toEqual(['connect held', 'fresh done']);
  });

  it('reads on when the copies are few or most of the response is still new', async () => {
    const mine: VectorClock = new Map();
    const { ae, sync, a } = await rig(60_000, mine);
    sync.scripts.set(a.toString(), [
      // 100 copies, 1,100 new: not worth a second round trip.
      { vc: new Map([['o~e', 1200]]), gate: Promise.resolve(true), beforeHeader: () => mine.set('o~e', 100) },
    ]);
    await ae.connected(a);
    expect(sync.closedAfterHeader).toEqual([]);
    expect(sync.eventsSent.get(a.toString())).toBe(1);
    expect(sync.pulls).toEqual([a.toString()]);
  });
});

describe('mostlyHeld: when a stale request is worth asking again', () => {
  const vc = (entries: Record<string, number>): VectorClock => new Map(Object.entries(entries));
  it('is 0 when we hold all of the response, the count we lack when copies are most of it, else undefined', () => {
    expect(mostlyHeld(vc({ a: 1200 }), vc({ a: 0 }), vc({ a: 1200 }))).toBe(0);
    expect(mostlyHeld(vc({ a: 1200 }), vc({ a: 0 }), vc({ a: 1300 }))).toBe(0);
    expect(mostlyHeld(vc({ a: 1200, b: 10 }), vc({ a: 0, b: 0 }), vc({ a: 1200 }))).toBe(10);
    // Fewer than STALE_MIN_DUPLICATES copies, or copies under three quarters: read on.
    expect(mostlyHeld(vc({ a: 1200 }), vc({ a: 1000 }), vc({ a: 1150 }))).toBeUndefined();
    expect(mostlyHeld(vc({ a: 1200 }), vc({ a: 0 }), vc({ a: 800 }))).toBeUndefined();
    // Nothing held beyond what we asked with: read on.
    expect(mostlyHeld(vc({ a: 1200 }), vc({ a: 500 }), vc({ a: 500 }))).toBeUndefined();
    expect(mostlyHeld(vc({ a: 5 }), vc({ a: 5 }), vc({ a: 5 }))).toBeUndefined();
  });
});

describe('mostlyCovered: when a response may wait for another', () => {
  const vc = (entries: Record<string, number>): VectorClock => new Map(Object.entries(entries));
  it('counts what we hold as covered, and lets at most a quarter of what we lack lie beyond', () => {
    const mine = vc({ me: 500, a: 100, b: 100 });
    // b's clock beyond a's only in our own events: all of it is on its way from a.
    expect(mostlyCovered(vc({ me: 400, a: 1100, b: 1100 }), vc({ me: 0, a: 1100, b: 1100 }), mine)).toBe(
      true,
    );
    // 2 events beyond a's, out of 2,000 we lack from b: wait for a, then ask b for the rest.
    expect(mostlyCovered(vc({ a: 1100, b: 1102 }), vc({ a: 1100, b: 1100 }), mine)).toBe(true);
    // 600 of 1,400 beyond: read b now.
    expect(mostlyCovered(vc({ a: 1100, b: 700 }), vc({ a: 1100, b: 100 }), mine)).toBe(false);
    // b brings nothing we lack: nothing to wait for.
    expect(mostlyCovered(vc({ a: 100 }), vc({ a: 1100 }), mine)).toBe(false);
  });
});
