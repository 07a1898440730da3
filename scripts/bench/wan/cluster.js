// The WAN benchmark's systems under test (run.js): the emulator's three regions (scripts/wan),
// with one SMAC agent and one etcd member in each, and one client process in each, next to both.
//
// etcd members must reach each other through the proxies, under peer URLs that every member
// computes the same member IDs from. They are named by host (http://etcd-sgp:2380), and each
// region resolves the names differently: `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over
// /etc/hosts, where a region's own name is its own address and the others are the addresses of
// its proxies to them. teardown() removes those files with the namespaces.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ChaosAgent, waitUntil } from '../../chaos/agents.js';
import { SocketApi } from '../../chaos/api.js';
import { ChildProcess } from '../ipc.js';
import { AGENT_PORT, WanEmulator } from '../../wan/emulator.js';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** WAN tuning (etcd's docs: heartbeat about the longest round trip, election 10× that). */
export const ETCD_TUNING = ['--heartbeat-interval=200', '--election-timeout=2000'];
const CLIENT = join(import.meta.dirname, 'client-child.js');

export class WanCluster {
  constructor({ dir, etcdBin, log, agentArgs = [] }) {
    this.dir = dir;
    this.agentArgs = agentArgs;
    this.etcdBin = etcdBin;
    this.log = log;
    this.wan = new WanEmulator({ ports: [AGENT_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT] });
    this.agents = [];
    this.apis = [];
    this.etcd = [];
    this.clients = [];
    this.hostsDirs = [];
    this.onExit = () => this.removeHostsFiles();
  }

  get regions() {
    return this.wan.regions;
  }

  async up() {
    await this.wan.up();
    this.writeHostsFiles();
    const clusterKey = join(this.dir, 'cluster.key');
    execFileSync(process.execPath, [BIN, 'keygen', '--out', clusterKey], { stdio: 'ignore' });
    for (let i = 0; i < this.regions.length; i++) {
      const agent = new ChaosAgent({
        index: i,
        net: this.wan,
        dir: join(this.dir, `smac-${this.regions[i]}`),
        clusterKey,
        logLevel: 'warn',
        tuning: false,
        extraArgs: this.agentArgs,
      });
      this.agents.push(agent);
      this.apis.push(new SocketApi(agent));
    }
    await Promise.all(this.agents.map((a) => a.start()));
    this.startEtcd();
    for (let i = 0; i < this.regions.length; i++) {
      const c = new ChildProcess(CLIENT, `client-${this.regions[i]}`, undefined, { netns: this.wan.ns(i) });
      this.clients.push(c);
      await c.call('init', { smacSocket: this.agents[i].socket, etcdUrl: this.etcdUrl(i) });
    }
    const t0 = Date.now();
    await waitUntil(
      async () => {
        for (const api of this.apis) {
          const m = await api.get('/v1/members');
          if (!m || m.members.filter((x) => x.status === 'alive').length < this.agents.length) return false;
        }
        return true;
      },
      'every SMAC agent sees every region alive',
      90_000,
      200,
    );
    this.smacConvergedMs = Date.now() - t0;
    await waitUntil(() => this.etcdLeader(), 'an etcd leader known to every member', 90_000, 250);
    this.log(`SMAC: all regions alive everywhere after ${this.smacConvergedMs} ms; etcd has a leader`);
  }

  writeHostsFiles() {
    process.once('exit', this.onExit);
    for (let i = 0; i < this.regions.length; i++) {
      const d = join('/etc/netns', this.wan.ns(i));
      mkdirSync(d, { recursive: true });
      this.hostsDirs.push(d);
      const lines = ['127.0.0.1 localhost'];
      for (let j = 0; j < this.regions.length; j++)
        lines.push(`${this.wan.addrFrom(i, j)} ${this.etcdHost(j)}`);
      writeFileSync(join(d, 'hosts'), `${lines.join('\n')}\n`);
    }
  }

  etcdHost(j) {
    return `etcd-${this.regions[j]}`;
  }
  etcdUrl(i) {
    return `http://${this.wan.addr(i)}:${ETCD_CLIENT_PORT}`;
  }

  startEtcd() {
    const initial = this.regions.map((r, j) => `${r}=http://${this.etcdHost(j)}:${ETCD_PEER_PORT}`).join(',');
    for (let i = 0; i < this.regions.length; i++) {
      const dataDir = join(this.dir, `etcd-${this.regions[i]}`);
      const argv = [
        `--name=${this.regions[i]}`,
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${this.etcdUrl(i)}`,
        `--advertise-client-urls=http://${this.etcdHost(i)}:${ETCD_CLIENT_PORT}`,
        `--listen-peer-urls=http://${this.wan.addr(i)}:${ETCD_PEER_PORT}`,
        `--initial-advertise-peer-urls=http://${this.etcdHost(i)}:${ETCD_PEER_PORT}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=smac-wan-${this.wan.runId}`,
        ...ETCD_TUNING,
        '--logger=zap',
        '--log-level=warn',
      ];
      const proc = this.wan.spawn(i, this.etcdBin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      const member = { region: this.regions[i], proc, stderr: '' };
      proc.stderr.on('data', (d) => {
        member.stderr = (member.stderr + d.toString()).slice(-4000);
      });
      this.etcd.push(member);
    }
  }

  /** The region index of etcd's leader if every member names the same one, else undefined. */
  async etcdLeader() {
    try {
      const statuses = await Promise.all(
        this.clients.map((c) => c.call('fingerprint', { system: 'etcd', prefix: 'none/' }, 10_000)),
      );
      const ids = new Set(statuses.map((s) => s.leader));
      if (ids.size !== 1 || !statuses[0].leader) return undefined;
      const members = await this.clients[0].call('etcdMembers', {}, 10_000);
      const leader = members.find((m) => m.ID === statuses[0].leader);
      const i = leader ? this.regions.indexOf(leader.name) : -1;
      return i < 0 ? undefined : { index: i, region: this.regions[i] };
    } catch {
      for (const m of this.etcd)
        if (m.proc.exitCode !== null) throw new Error(`etcd in ${m.region} exited: ${m.stderr}`);
      return undefined;
    }
  }

  /** Process ids per system and region, for the /proc sampling. */
  pids() {
    return {
      smac: this.agents.map((a) => a.child?.pid),
      etcd: this.etcd.map((m) => m.proc.pid),
    };
  }

  async teardown() {
    for (const c of this.clients) c.kill();
    for (const api of this.apis) api.close();
    await Promise.all(this.agents.map((a) => a.destroy()));
    for (const m of this.etcd) if (m.proc.exitCode === null) m.proc.kill('SIGKILL');
    await this.wan.down();
    this.removeHostsFiles();
    return this.wan.remaining();
  }

  removeHostsFiles() {
    for (const d of this.hostsDirs) rmSync(d, { recursive: true, force: true });
    this.hostsDirs = [];
    process.off('exit', this.onExit);
  }
}

/** CPU ticks (utime + stime) and RSS (bytes) of a process, from /proc; undefined if gone. */
export function procSample(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { ticks: Number(f[11]) + Number(f[12]), rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** The 1-minute load average. */
export function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
