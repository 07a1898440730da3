// Network namespaces for the nemesis test: one namespace per agent and one for two bridges.
// Every agent's veth peer sits on bridge br0; an isolation downs the agent's port, and a
// split moves a minority's ports to bridge br1 (two L2 segments, no route between them), a
// three-way split one group to br1 and another to br2.
// Nothing is created in the root namespace, and every name carries the run id.
import { ip, namespacesMatching } from '../lib/netns.js';

export { ip, netnsAvailable } from '../lib/netns.js';

/** The hub's bridges: br0 for everyone, br1 and br2 for the other sides of a split. */
const BRIDGES = ['br0', 'br1', 'br2'];

export class ChaosNet {
  /**
   * @param {string} runId short unique id (letters and digits, ≤ 6 chars)
   * @param {number} count number of agents
   * @param {number} subnet third octet of 10.213.<subnet>.0/24
   */
  constructor(runId, count, subnet) {
    this.runId = runId;
    this.count = count;
    this.hub = `smacbr-${runId}`;
    this.namespaces = [];
    this.created = false;
    this.subnet = subnet;
    /** Per agent: 'up' (on br0), 'down' (port down), or 'br1'/'br2' (another side of a split). */
    this.state = [];
  }

  ns(i) {
    return `smac${i}-${this.runId}`;
  }
  /** Address of agent i. */
  addr(i) {
    return `10.213.${this.subnet}.${10 + i}`;
  }
  port(i) {
    return `p${i}-${this.runId}`;
  }

  setUp() {
    this.created = true;
    ip(['netns', 'add', this.hub]);
    this.hubIp(['link', 'set', 'lo', 'up']);
    for (const br of BRIDGES) {
      this.hubIp(['link', 'add', br, 'type', 'bridge']);
      this.hubIp(['link', 'set', br, 'up']);
    }
    for (let i = 0; i < this.count; i++) {
      const ns = this.ns(i);
      ip(['netns', 'add', ns]);
      this.namespaces.push(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      // Create the pair inside the hub namespace, then move the agent's end to its namespace.
      this.hubIp(['link', 'add', this.port(i), 'type', 'veth', 'peer', 'name', 'eth0']);
      this.hubIp(['link', 'set', 'eth0', 'netns', ns]);
      ip(['-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      this.hubIp(['link', 'set', this.port(i), 'master', 'br0']);
      this.hubIp(['link', 'set', this.port(i), 'up']);
      this.state.push('up');
    }
  }

  hubIp(args) {
    return ip(['-n', this.hub, ...args]);
  }

  /** Cuts agent i off from everyone (its bridge port goes down). */
  isolate(i) {
    this.hubIp(['link', 'set', this.port(i), 'down']);
    this.state[i] = 'down';
  }

  /** Moves the agents in `side` to `bridge` (br1 or br2): they reach each other, not the rest. */
  split(side, bridge = 'br1') {
    if (bridge !== 'br1' && bridge !== 'br2') throw new Error(`no bridge ${bridge} to split to`);
    for (const i of side) {
      this.hubIp(['link', 'set', this.port(i), 'master', bridge]);
      this.state[i] = bridge;
    }
  }

  /** Moves the agents in `side` back from bridge br1 or br2 to br0 (a split of them healed). */
  rejoin(side) {
    for (const i of side) {
      if (this.state[i] !== 'br1' && this.state[i] !== 'br2') continue;
      this.hubIp(['link', 'set', this.port(i), 'master', 'br0']);
      this.state[i] = 'up';
    }
  }

  /** Every port back up on br0. */
  healAll() {
    for (let i = 0; i < this.count; i++) {
      if (this.state[i] === 'br1' || this.state[i] === 'br2')
        this.hubIp(['link', 'set', this.port(i), 'master', 'br0']);
      if (this.state[i] === 'down') this.hubIp(['link', 'set', this.port(i), 'up']);
      this.state[i] = 'up';
    }
  }

  /** Which side of the network agent i is on right now (undefined when cut off alone). */
  side(i) {
    return this.state[i] === 'down' ? undefined : this.state[i];
  }

  /** Removes every namespace of this run (and with them every veth and bridge). Never throws. */
  tearDown() {
    if (!this.created) return;
    for (const ns of [...this.namespaces, this.hub]) ip(['netns', 'del', ns], { quiet: true });
    this.namespaces = [];
    this.created = false;
  }
}

/** Names of namespaces left by earlier runs that died without cleaning up (for the message). */
export function leftoverNamespaces() {
  return namespacesMatching(/^smac(br|\d+)-/);
}
