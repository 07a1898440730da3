// The WAN emulator (issue 8; docs/networking.md): regions as network namespaces, joined only
// through userspace delay proxies that add each pair's one-way delay.
//
//   region i (smacw<i>-<run>)            hub (smacwh-<run>)                    region j
//   eth0 10.214.i.2/24  ── veth ──  w<i>-<run> 10.214.i.1/24                 eth0 10.214.j.2
//                                    + 10.214.i.(10+j)/32: proxy i→j ──────► (same port)
//
// A region reaches region j at `addrFrom(i, j)` = 10.214.i.(10+j), an address the hub holds on
// region i's link, where the i→j proxy listens on every forwarded port and connects to
// 10.214.j.2 at the same port. Regions have no route to each other's subnets, and the hub does
// not forward, so the proxies are the only path and nothing leaves the run's namespaces. Every
// name carries the run id; `down()` deletes them all and never throws.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { deleteNamespaces, ip, namespacesMatching, spawnIn } from '../lib/netns.js';
import { summarize } from './echo.js';

export const REGIONS = Object.freeze(['sgp', 'fra', 'sfo']);
export const REGION_NAMES = Object.freeze({ sgp: 'Singapore', fra: 'Frankfurt', sfo: 'N. California' });
/** Round trips between the reference regions (DESIGN.md "Emulating geography"), ms. */
export const RTT_MS = Object.freeze({ 'fra-sgp': 157, 'sfo-sgp': 172, 'fra-sfo': 151 });
/** The SMAC agents' libp2p port, and the port of each region's echo server. */
export const AGENT_PORT = 7946;
export const ECHO_PORT = 7999;
export const STATE_DIR = join(tmpdir(), 'smac-wan');
/** Every namespace any WAN run makes: for `down --all` and leftover checks. */
export const NAMESPACE_PATTERN = /^smacw(h|\d+)-[a-z0-9]+$/;

const HELPER = join(import.meta.dirname, 'helper.js');

export function pairKey(a, b) {
  return [a, b].sort().join('-');
}

export class WanEmulator {
  /**
   * @param {{ runId?: string, regions?: string[], rttMs?: Record<string, number>,
   *   ports?: number[], node?: string }} [opts] `ports`: what the proxies forward (the agent and
   *   echo ports by default; add etcd's, say). `node`: the Node binary for the helpers.
   */
  constructor(opts = {}) {
    this.runId = opts.runId ?? randomBytes(3).toString('hex');
    if (!/^[a-z0-9]{1,6}$/.test(this.runId)) throw new Error('runId: 1 to 6 lowercase letters or digits');
    this.regions = [...(opts.regions ?? REGIONS)];
    this.rttMs = { ...RTT_MS, ...opts.rttMs };
    this.ports = [...new Set([...(opts.ports ?? [AGENT_PORT]), ECHO_PORT])];
    this.node = opts.node ?? process.execPath;
    for (let i = 0; i < this.regions.length; i++)
      for (let j = i + 1; j < this.regions.length; j++) this.configuredRttMs(i, j); // throws if missing
    this.helpers = [];
    this.hubHelper = undefined;
    this.regionHelpers = [];
    this.made = [];
    this.onExit = () => this.downSync();
  }

  get hub() {
    return `smacwh-${this.runId}`;
  }
  ns(i) {
    return `smacw${i}-${this.runId}`;
  }
  link(i) {
    return `w${i}-${this.runId}`;
  }
  /** Where region i's own services (its agent) listen. */
  addr(i) {
    return `10.214.${i}.2`;
  }
  /** How region `from` reaches region `to`: through the from→to proxy (or itself). */
  addrFrom(from, to) {
    return from === to ? this.addr(from) : `10.214.${from}.${10 + to}`;
  }
  configuredRttMs(i, j) {
    const rtt = this.rttMs[pairKey(this.regions[i], this.regions[j])];
    if (typeof rtt !== 'number')
      throw new Error(`no round trip configured for ${this.regions[i]}–${this.regions[j]}`);
    return rtt;
  }
  proxyName(from, to) {
    return `${this.regions[from]}>${this.regions[to]}`;
  }

  /** Creates everything; on any failure removes what it made and rethrows. */
  async up() {
    process.once('exit', this.onExit);
    try {
      this.addNs(this.hub);
      ip(['-n', this.hub, 'link', 'set', 'lo', 'up']);
      ip(['netns', 'exec', this.hub, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
      const proxies = [];
      for (let i = 0; i < this.regions.length; i++) {
        const ns = this.ns(i);
        this.addNs(ns);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        ip(['-n', this.hub, 'link', 'add', this.link(i), 'type', 'veth', 'peer', 'name', 'eth0']);
        ip(['-n', this.hub, 'link', 'set', 'eth0', 'netns', ns]);
        ip(['-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        ip(['-n', this.hub, 'addr', 'add', `10.214.${i}.1/24`, 'dev', this.link(i)]);
        for (let j = 0; j < this.regions.length; j++) {
          if (j === i) continue;
          ip(['-n', this.hub, 'addr', 'add', `${this.addrFrom(i, j)}/32`, 'dev', this.link(i)]);
          proxies.push({
            name: this.proxyName(i, j),
            listenHost: this.addrFrom(i, j),
            targetHost: this.addr(j),
            ports: this.ports,
            delayMs: this.configuredRttMs(i, j) / 2,
          });
        }
        ip(['-n', this.hub, 'link', 'set', this.link(i), 'up']);
      }
      this.hubHelper = await this.startHelper(this.hub, 'proxies', proxies);
      for (let i = 0; i < this.regions.length; i++) {
        this.regionHelpers.push(
          await this.startHelper(this.ns(i), 'region', { echoHost: this.addr(i), echoPort: ECHO_PORT }),
        );
      }
      mkdirSync(STATE_DIR, { recursive: true });
      writeFileSync(this.stateFile(), JSON.stringify(this.describe(), null, 2));
    } catch (e) {
      await this.down();
      throw e;
    }
  }

  stateFile() {
    return join(STATE_DIR, `${this.runId}.json`);
  }

  describe() {
    return {
      runId: this.runId,
      pid: process.pid,
      hub: this.hub,
      regions: this.regions.map((name, i) => ({
        name,
        namespace: this.ns(i),
        address: this.addr(i),
        reaches: Object.fromEntries(
          this.regions.map((other, j) => [other, this.addrFrom(i, j)]).filter(([, a], j) => j !== i && a),
        ),
      })),
      ports: this.ports,
      rttMs: this.rttMs,
    };
  }

  addNs(ns) {
    ip(['netns', 'add', ns]);
    this.made.push(ns);
  }

  async startHelper(ns, role, config) {
    const child = spawnIn(ns, this.node, [HELPER, role, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const helper = { child, next: 1, pending: new Map(), ns };
    this.helpers.push(helper);
    const lines = createInterface({ input: child.stdout });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the ${role} helper in ${ns} did not start in 10 s`)),
        10_000,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the ${role} helper in ${ns} exited (code ${code})`));
      });
      lines.once('line', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    lines.on('line', (line) => {
      const msg = JSON.parse(line);
      const p = helper.pending.get(msg.id);
      if (!p) return;
      helper.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    child.once('exit', () => {
      for (const p of helper.pending.values()) p.reject(new Error(`the helper in ${ns} exited`));
      helper.pending.clear();
    });
    return helper;
  }

  call(helper, msg) {
    return new Promise((resolve, reject) => {
      const id = helper.next++;
      helper.pending.set(id, { resolve, reject });
      helper.child.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
  }

  // ---- partitions ---------------------------------------------------------------------

  /** Takes region i's link down: it reaches nobody and nobody reaches it. */
  cutRegion(i) {
    ip(['-n', this.hub, 'link', 'set', this.link(i), 'down']);
  }
  healRegion(i) {
    ip(['-n', this.hub, 'link', 'set', this.link(i), 'up']);
  }
  /** Stops both proxies between regions i and j (the other links keep working). */
  async cutPair(i, j) {
    await this.call(this.hubHelper, { cmd: 'cut', names: [this.proxyName(i, j), this.proxyName(j, i)] });
  }
  async healPair(i, j) {
    await this.call(this.hubHelper, { cmd: 'heal', names: [this.proxyName(i, j), this.proxyName(j, i)] });
  }
  async proxyStats() {
    return this.call(this.hubHelper, { cmd: 'stats' });
  }

  // ---- measuring ----------------------------------------------------------------------

  /** Round trips from region `from` to `to`'s echo server through the from→to proxy. */
  async measure(from, to, { count = 5, timeoutMs = 5_000 } = {}) {
    const samples = await this.call(this.regionHelpers[from], {
      cmd: 'measure',
      host: this.addrFrom(from, to),
      port: ECHO_PORT,
      count,
      timeoutMs,
    });
    return {
      from: this.regions[from],
      to: this.regions[to],
      configuredMs: this.configuredRttMs(from, to),
      ...summarize(samples),
      samples,
    };
  }

  /** Every ordered pair, measured concurrently per source region. */
  async measureAll(opts) {
    const out = [];
    await Promise.all(
      this.regions.map(async (_, i) => {
        for (let j = 0; j < this.regions.length; j++) if (j !== i) out.push(await this.measure(i, j, opts));
      }),
    );
    return out.sort((a, b) => (a.from + a.to < b.from + b.to ? -1 : 1));
  }

  /** Spawns `command args` inside region i's namespace. */
  spawn(i, command, args, options) {
    return spawnIn(this.ns(i), command, args, options);
  }

  // ---- teardown -----------------------------------------------------------------------

  /** Removes every process and namespace this emulator made. Never throws. */
  async down() {
    const exits = this.helpers.map(
      (h) =>
        new Promise((resolve) => {
          if (h.child.exitCode !== null || h.child.signalCode !== null) return resolve();
          h.child.once('exit', resolve);
          setTimeout(resolve, 2_000).unref();
        }),
    );
    this.downSync();
    await Promise.all(exits);
  }

  downSync() {
    for (const h of this.helpers) {
      try {
        h.child.stdin.end();
        h.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    this.helpers = [];
    deleteNamespaces([...this.made].reverse());
    deleteNamespaces(namespacesMatching(new RegExp(`^smacw(h|\\d+)-${this.runId}$`)));
    this.made = [];
    rmSync(this.stateFile(), { force: true });
    process.off('exit', this.onExit);
  }

  /** The namespaces of this run that still exist (none after `down`). */
  remaining() {
    return namespacesMatching(new RegExp(`^smacw(h|\\d+)-${this.runId}$`));
  }
}

/** A table of measured against configured round trips; flags a link that delays too little. */
export function formatReport(rows) {
  const lines = ['link           configured  min      median   max      ok'];
  for (const r of rows) {
    const ok = r.minMs >= r.configuredMs ? 'yes' : 'SHORT';
    lines.push(
      `${`${r.from} → ${r.to}`.padEnd(15)}${`${r.configuredMs} ms`.padEnd(12)}${`${r.minMs}`.padEnd(9)}${`${r.medianMs}`.padEnd(9)}${`${r.maxMs}`.padEnd(9)}${ok}`,
    );
  }
  return lines.join('\n');
}
