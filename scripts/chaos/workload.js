// Clients on every CRDT type, one per agent, recording every op with its outcome: acknowledged
// ops with the (origin, seq) the API returned, failed ones (certainly not applied) and unknown
// ones (maybe applied) apart. Reads are recorded with the clock they returned, which is how
// the checker knows what a later op at the same agent had observed.
//
// Besides updates, a modest fraction of ops are causal resets and clears (docs/semantics.md):
// counter deletes (DELETE of the object), aw-set and rw-set `clear`, or-map field removes and
// deletes of the whole map. Each is read first most of the time, so the checker knows what it
// had seen. Rates below; a delete of an object the agent does not hold is a 404 (a failed op).
import { objectPath } from './api.js';

export const PREFIX = 'chaos/';
const POOL = ['e0', 'e1', 'e2', 'e3', 'e4', 'e5'];
const FIELDS = ['f0', 'f1', 'f2', 'f3'];

/** How often a client resets instead of updating, per type (of that type's ops). */
export const RESET_RATES = {
  counterDelete: 0.08,
  setClear: 0.06,
  mapFieldRemove: 0.1,
  mapDelete: 0.03,
};

/** Objects the clients write, by type (keys under PREFIX). */
export const KEYS = {
  'pn-counter': ['chaos/ctr/0', 'chaos/ctr/1', 'chaos/ctr/2'],
  'lww-register': ['chaos/lww/0', 'chaos/lww/1'],
  'mv-register': ['chaos/mv/0', 'chaos/mv/1'],
  'aw-set': ['chaos/aw/0', 'chaos/aw/1'],
  'rw-set': ['chaos/rw/0', 'chaos/rw/1'],
  'ew-flag': ['chaos/flag/0'],
  'or-map': ['chaos/map/0'],
};

export class History {
  constructor() {
    /** Every write attempt. */
    this.ops = [];
    /** Every successful read: { agent, type, key, start, end, clock, value }. */
    this.reads = [];
  }
  counts() {
    const c = { ok: 0, fail: 0, unknown: 0, lostWithStore: 0 };
    for (const o of this.ops) {
      c[o.outcome]++;
      if (o.lostWithStore) c.lostWithStore++;
    }
    return c;
  }
}

export class Client {
  /**
   * @param {number} agent index of the agent
   * @param {import('./api.js').SocketApi} api
   * @param {History} history
   * @param {import('./prng.js').Prng} rng
   */
  constructor(agent, api, history, rng) {
    this.agent = agent;
    this.api = api;
    this.history = history;
    this.rng = rng;
    this.n = 0;
    this.inFlight = 0;
    this.running = false;
  }

  /** Runs until stop(); bounded by `maxOps` as well. */
  async run(maxOps, pauseMs) {
    this.running = true;
    for (let i = 0; i < maxOps && this.running; i++) {
      await this.step();
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  stop() {
    this.running = false;
  }

  /** An op (POST), or with `method` 'DELETE' a delete of the object, recorded as op `{kind: 'delete'}`. */
  async write(type, key, op, method = 'POST') {
    this.inFlight++;
    const body = method === 'DELETE' ? undefined : op;
    const r = await this.api.request(method, objectPath(type, key), body).finally(() => {
      this.inFlight--;
    });
    const rec = {
      id: this.history.ops.length,
      agent: this.agent,
      type,
      key,
      op,
      start: r.start,
      end: r.end,
      outcome: r.outcome,
      status: r.status,
      error: r.error,
      origin: r.outcome === 'ok' ? r.body.origin : undefined,
      seq: r.outcome === 'ok' ? r.body.seq : undefined,
      lostWithStore: false,
    };
    this.history.ops.push(rec);
    return rec;
  }

  async read(type, key) {
    const r = await this.api.request('GET', objectPath(type, key));
    if (r.outcome !== 'ok') return undefined;
    const rec = {
      agent: this.agent,
      type,
      key,
      start: r.start,
      end: r.end,
      clock: r.body.clock,
      value: r.body.value,
    };
    this.history.reads.push(rec);
    return rec;
  }

  unique() {
    return `a${this.agent}-${this.n++}`;
  }

  async step() {
    const rng = this.rng;
    const type = rng.pick(Object.keys(KEYS));
    const key = rng.pick(KEYS[type]);
    switch (type) {
      case 'pn-counter':
        if (rng.chance(RESET_RATES.counterDelete)) {
          // Read first: the checker then knows which deltas the delete saw (and so removed).
          if (rng.chance(0.9)) await this.read(type, key);
          await this.write(type, key, { kind: 'delete' }, 'DELETE');
          return;
        }
        // Some plain reads too: the checker checks every read against the ops its clock covers.
        if (rng.chance(0.1)) await this.read(type, key);
        await this.write(type, key, { kind: rng.chance(0.7) ? 'increment' : 'decrement', by: rng.int(1, 5) });
        return;
      case 'lww-register':
      case 'mv-register':
        // Read first, so that the checker knows which earlier writes this one overwrote.
        if (rng.chance(0.7)) await this.read(type, key);
        await this.write(type, key, { kind: 'set', value: this.unique() });
        return;
      case 'aw-set':
      case 'rw-set': {
        if (rng.chance(RESET_RATES.setClear)) {
          if (rng.chance(0.8)) await this.read(type, key);
          await this.write(type, key, { kind: 'clear' });
          return;
        }
        const value = rng.pick(POOL);
        if (rng.chance(0.5)) {
          await this.write(type, key, { kind: 'add', value });
        } else {
          if (rng.chance(0.8)) await this.read(type, key);
          await this.write(type, key, { kind: 'remove', value });
        }
        return;
      }
      case 'ew-flag':
        if (rng.chance(0.8)) await this.read(type, key);
        await this.write(type, key, { kind: rng.chance(0.5) ? 'enable' : 'disable' });
        return;
      case 'or-map': {
        const r = rng.next();
        if (r < RESET_RATES.mapDelete + RESET_RATES.mapFieldRemove) {
          if (rng.chance(0.9)) await this.read(type, key);
          if (r < RESET_RATES.mapDelete) await this.write(type, key, { kind: 'delete' }, 'DELETE');
          else await this.write(type, key, { kind: 'remove', field: rng.pick(FIELDS), type: 'pn-counter' });
          return;
        }
        await this.write(type, key, {
          kind: 'update',
          field: rng.pick(FIELDS),
          type: 'pn-counter',
          op: { kind: 'increment', by: rng.int(1, 3) },
        });
        return;
      }
      default:
        throw new Error(`no workload for ${type}`);
    }
  }
}
