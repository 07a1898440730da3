// One SMAC agent in its own process, driven by scripts/bench/replication.js over IPC (ipc.js).
// It runs the built agent from dist/ and does the timing itself, so what it reports is the
// agent's own view: acknowledgement latency around `agent.write`, receive times in `onChange`,
// and a per-origin progress log (when each seq was applied here) from which the parent works
// out replication lag. Every load loop is bounded in count or time.
import { pino } from 'pino';
import { Agent } from '../../dist/agent/agent.js';
import { resolveAgentConfig } from '../../dist/agent/config.js';
import { startHeapRelease } from '../../dist/agent/heap-release.js';
import { serve, sleep, wallNow } from './ipc.js';
import { installProtoBytes, protoBytes, watchGossipsub } from './proto-bytes.js';

let agent;
let protoWatched = false;
/** origin -> { t: number[], seq: number[] }: when each seq of that origin was applied here. */
const progress = new Map();
/** Visibility samples (ms) for events of one origin, while enabled. */
let visibility;
const coverWaits = new Set();
/** When the clock first covered the `coverTarget` given to start (a promise of a wall time). */
let startCovered;

const clockRecord = () => Object.fromEntries(agent.clock());

function covers(target) {
  const mine = agent.clock();
  return Object.entries(target).every(([id, seq]) => (mine.get(id) ?? 0) >= seq);
}

function checkCoverWaits() {
  for (const w of coverWaits) {
    if (covers(w.target)) {
      coverWaits.delete(w);
      clearInterval(w.poll);
      w.resolve(wallNow());
    }
  }
}

/** First wall time at which this agent's clock covers `target`. */
function waitCovers(target, timeoutMs) {
  if (covers(target)) return Promise.resolve(wallNow());
  return new Promise((resolve, reject) => {
    const w = { target, resolve };
    // Installing a snapshot moves the clock without a change notice: poll as well.
    w.poll = setInterval(checkCoverWaits, 2);
    setTimeout(() => {
      if (!coverWaits.delete(w)) return;
      clearInterval(w.poll);
      reject(new Error(`clock did not cover ${JSON.stringify(target)} within ${timeoutMs} ms`));
    }, timeoutMs).unref();
    coverWaits.add(w);
  });
}

function onChange({ event, objects }) {
  const t = wallNow();
  const log = progress.get(event.origin);
  if (log) {
    // Events of one drain arrive within microseconds: one entry per ms keeps the log small.
    const last = log.t.length - 1;
    if (last >= 0 && t - log.t[last] < 1) log.seq[last] = event.seq;
    else {
      log.t.push(t);
      log.seq.push(event.seq);
    }
  }
  if (visibility && event.origin === visibility.origin) {
    for (const o of objects) {
      if (!o.key.startsWith('vis/')) continue;
      const sent = agent.read(o.type, o.key)?.value?.t;
      if (typeof sent === 'number') visibility.samples.push(t - sent);
    }
  }
  if (coverWaits.size > 0) checkCoverWaits();
}

const setOp = (key, value) => ({ type: 'lww-register', key, op: { kind: 'set', value } });

/** `inflight` writers until `count` events were issued or `durationMs` passed. */
async function drive({ count = Infinity, durationMs = Infinity, inflight, batch = 1, prefix = 'tp' }) {
  let issued = 0;
  let acked = 0;
  const seqStart = agent.clock().get(agent.peerId) ?? 0;
  const tStart = wallNow();
  const deadline = tStart + durationMs;
  let tEnd = tStart;
  const worker = async () => {
    while (issued < count && wallNow() < deadline) {
      const i = issued++;
      const ops = [];
      for (let j = 0; j < batch; j++) ops.push(setOp(`${prefix}/k${(i * batch + j) % 4096}`, { i, j }));
      await agent.write(ops);
      acked++;
      tEnd = wallNow();
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const elapsedMs = tEnd - tStart;
  return {
    events: acked,
    ops: acked * batch,
    elapsedMs,
    eventsPerSec: acked / (elapsedMs / 1000),
    opsPerSec: (acked * batch) / (elapsedMs / 1000),
    tStart,
    tEnd,
    seqStart,
    seqEnd: agent.clock().get(agent.peerId) ?? 0,
  };
}

serve(
  {
    async start({ dataDir, join = [], region = 'bench', storeSync = 'normal', coverTarget }) {
      const tStartBegin = wallNow();
      const config = resolveAgentConfig({
        dataDir,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        join,
        region,
        storeSync,
        logLevel: 'silent',
      });
      agent = await Agent.start(config, { logger: pino({ level: 'silent' }) });
      const tStarted = wallNow();
      // As `smac agent` does (src/cli/main.ts): idle memory goes back to the system.
      startHeapRelease();
      agent.onChange(onChange);
      // Catch-up is timed from process start: begin watching before anything else can run.
      startCovered = coverTarget ? waitCovers(coverTarget, 120_000) : undefined;
      // Observed by `covered`; until then a timeout must not surface as an unhandled rejection.
      startCovered?.catch(() => undefined);
      return { peerId: agent.peerId, addresses: agent.addresses(), tStartBegin, tStarted };
    },
    /** For a `coverTarget` given to start: when the clock first covered it. */
    async covered({ timeoutMs = 120_000 }) {
      const p = startCovered;
      if (!p) throw new Error('start was not given a coverTarget');
      let timer;
      const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not covered within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        return { tCovered: await Promise.race([p, limit]), status: agent.status() };
      } finally {
        clearTimeout(timer);
      }
    },
    waitCovers: ({ target, timeoutMs = 60_000 }) => waitCovers(target, timeoutMs),
    clock: () => clockRecord(),
    status: () => agent.status(),
    connectedPeers: () => agent.connectedPeers(),
    /** Members this agent's failure detector holds alive (itself included), and the others. */
    alive() {
      const members = agent.members().members;
      const alive = members.filter((m) => m.status === 'alive').map((m) => m.id);
      return { alive, count: alive.length, total: members.length };
    },
    /** Status of one member in this agent's view (undefined if unknown). */
    memberStatus: ({ id }) => agent.members().members.find((m) => m.id === id)?.status,
    /**
     * Where received events came from: gossip or sync (anti-entropy), duplicates included.
     * The agent has no public accessor for these yet, so this reads its private services; a
     * rename leaves the fields undefined rather than failing the run.
     */
    diag() {
      const gossip = agent.gossip?.counters?.();
      const sync = agent.sync?.counters?.();
      return {
        remoteApplied: agent.status().counters.remoteEvents,
        syncsStarted: agent.status().counters.syncsStarted,
        gossipDelivered: gossip?.deliveredEvents,
        syncPulled: sync?.pulledEvents,
        syncServed: sync?.servedEvents,
        // Signatures checked, and envelopes accepted through a chain link (envelope-batch.ts).
        gossipOpened: gossip?.opened,
        syncOpened: agent.antiEntropy?.receiver?.stats,
        // Idle-cost figures (scale.js --diag); undefined where a build lacks them.
        beatsPublished: agent.heartbeats?.sendStats?.().published,
        beatsSkipped: agent.heartbeats?.sendStats?.().skipped,
        heartbeatsReceived: agent.status().counters.heartbeatsReceived,
        directBeatsWhole: agent.heartbeats?.pathStats?.().direct?.sentBeats,
        directBeatRefs: agent.heartbeats?.pathStats?.().direct?.sentRefs,
        ...Object.fromEntries(
          Object.entries(agent.heartbeats?.pathStats?.().direct?.sentBeatsFor ?? {}).map(([k, v]) => [
            `directWhole_${k}`,
            v,
          ]),
        ),
        gossipBeatsPublished: agent.heartbeats?.pathStats?.().gossip.published,
        events: Object.values(clockRecord()).reduce((a, b) => a + b, 0),
        transitions: agent.members().transitions.length,
      };
    },
    /** Bytes per protocol and layer since the first call (scale.js --protocols; proto-bytes.js). */
    protoBytes() {
      if (!protoWatched) {
        protoWatched = true;
        installProtoBytes();
        const pubsub = agent.node?.services?.pubsub;
        if (pubsub) watchGossipsub(pubsub);
      }
      return protoBytes();
    },
    mem() {
      globalThis.gc?.();
      const m = process.memoryUsage();
      return { rssMb: m.rss / 2 ** 20, heapUsedMb: Math.round(m.heapUsed / 2 ** 20) };
    },
    track({ origin }) {
      progress.set(origin, { t: [], seq: [] });
    },
    progress({ origin }) {
      const log = progress.get(origin) ?? { t: [], seq: [] };
      progress.delete(origin);
      return log;
    },
    visStart({ origin }) {
      visibility = { origin, samples: [] };
    },
    visResults() {
      const samples = visibility?.samples ?? [];
      visibility = undefined;
      return samples;
    },
    /** Sequential single-op writes: acknowledgement latency (ms) of each, after a warm-up. */
    async ackLatency({ n, warmup = 200 }) {
      const lat = [];
      for (let i = 0; i < warmup + n; i++) {
        const s = performance.now();
        await agent.write([setOp(`bench/k${i % 64}`, { i })]);
        if (i >= warmup) lat.push(performance.now() - s);
      }
      return lat;
    },
    /**
     * Single-op writes on a fixed schedule (not waiting for acks), each carrying its send time;
     * at most `maxInFlight` unacknowledged, so a stalled agent cannot make the loop unbounded.
     */
    async paced({ n, intervalMs, maxInFlight = 256 }) {
      const tStart = wallNow();
      let inFlight = 0;
      let skippedWaits = 0;
      const acks = [];
      const ackMs = [];
      for (let i = 0; i < n; i++) {
        const due = tStart + i * intervalMs;
        const wait = due - wallNow();
        if (wait > 1) await sleep(wait);
        while (inFlight >= maxInFlight) {
          skippedWaits++;
          await sleep(1);
        }
        inFlight++;
        const sent = wallNow();
        acks.push(
          agent.write([setOp(`vis/${i}`, { t: sent, i })]).then(() => {
            inFlight--;
            ackMs.push(wallNow() - sent);
          }),
        );
      }
      await Promise.all(acks);
      return { sent: n, elapsedMs: wallNow() - tStart, skippedWaits, ackMs };
    },
    load: (args) => drive(args),
    async stop() {
      await agent.stop();
      agent = undefined;
      setImmediate(() => process.exit(0));
      return true;
    },
  },
  async () => {
    await agent?.stop();
  },
);
