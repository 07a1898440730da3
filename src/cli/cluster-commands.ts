/**
 * `smac` commands about the cluster: status, members (a table, `*` marks this agent), services
 * and load. Human output is a table or a few aligned lines; `--json` prints the API's reply.
 */
import { type Command, Option } from 'commander';
import type { MembersReply } from '../client/client.js';
import { CliError, EXIT, out, parseJson, req, run, show, table, UsageError } from './cli-support.js';
import { SmacApiError } from '../client/client.js';
import { addRttCommand } from './rtt-command.js';

interface ServicesView {
  services: { name: string; endpoints: number; healthy: number }[];
}
interface EndpointsView {
  service: string;
  endpoints: {
    id: string;
    node: string;
    address: string;
    port: number;
    region: string | null;
    nodeStatus: string;
    check: { type: string; status: string } | null;
    healthy: boolean;
  }[];
}
interface Figures {
  sum: number | string;
  count: number;
  nodes: { node: string; value: number | string; alive: boolean; region: string | null }[];
}
interface LoadView {
  metric: string;
  counter: Figures | null;
  gauge: Figures | null;
}
interface MetricsView {
  metrics: { name: string; counter: boolean; gauge: boolean }[];
}

const short = (id: string): string => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id);

/** A member's first address without its `/p2p/<id>` tail (the id has its own column). */
function address(addresses: readonly string[]): string {
  return (addresses[0] ?? '-').replace(/\/p2p\/[^/]+$/, '');
}

export function membersTable(m: MembersReply, self: string): string {
  return table(
    ['  ID', 'ADDRESS', 'REGION', 'STATUS', 'INCARNATION', 'TAGS'],
    m.members.map((x) => [
      `${x.id === self ? '*' : ' '} ${x.id}`,
      address(x.addresses),
      x.region ?? '-',
      x.status,
      String(x.incarnation),
      Object.entries(x.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ]),
  );
}

function figuresTable(kind: string, f: Figures): string {
  return [
    `${kind}: ${f.sum} over ${f.count} live node(s)`,
    table(
      ['NODE', 'REGION', 'VALUE', 'ALIVE'],
      f.nodes.map((n) => [n.node, n.region ?? '-', String(n.value), n.alive ? 'yes' : 'no']),
    ),
  ].join('\n');
}

export function addClusterCommands(program: Command): void {
  program
    .command('status')
    .description("the local agent's status: peers, clock, buffer, log")
    .action(
      run(async ({ client: c }, o) => {
        const s = await c.status();
        out(o, s, () =>
          [
            `peer id   ${s.peerId}`,
            `region    ${s.region}`,
            `objects   ${s.objects}`,
            `log       ${s.log.events} events, ${s.log.bytes} bytes`,
            `buffered  ${s.buffered}`,
            `peers     ${s.peers.length}`,
            ...forceLeavesPending(s).map(
              (f) => `force-leave pending  ${f.peerId} (since ${new Date(f.at).toISOString()})`,
            ),
            ...(s.peers.length === 0
              ? []
              : [
                  '',
                  table(
                    ['PEER', 'STATE', 'REGION', 'LAG'],
                    s.peers.map((p) => [
                      p.peerId,
                      p.connected ? 'connected' : 'disconnected',
                      p.region ?? '-',
                      String(p.lag ?? '?'),
                    ]),
                  ),
                ]),
          ].join('\n'),
        );
      }),
    );

  program
    .command('members [action] [peerId]')
    .description(
      'cluster members and their health (* marks this agent); `members force-leave PEER` removes a member that will not come back; `members forget PEER` stops keeping writes for a re-run against a reaped member',
    )
    .addOption(
      new Option('--status <status>', 'only members in this state').choices([
        'alive',
        'suspect',
        'dead',
        'left',
      ]),
    )
    .action(
      run(async ({ client: c }, o, action, id) => {
        if (action === 'forget') {
          const r = await c.forget(req(id));
          out(o, r, () => `${r.id} forgotten: this agent no longer keeps its writes for a re-run against it`);
          return;
        }
        if (action !== undefined) {
          if (action !== 'force-leave')
            throw new UsageError(
              `Unknown members action ${action}; use: smac members force-leave PEER_ID, or smac members forget PEER_ID.`,
            );
          const peer = req(id);
          let r: { id: string; removed: boolean; pending?: boolean };
          try {
            r = await c.forceLeave(peer);
          } catch (e) {
            if (e instanceof SmacApiError && e.code === 'NOT_FOUND')
              throw new CliError(
                `No member ${peer} holds compaction back here; see smac status.`,
                EXIT.failed,
              );
            throw e;
          }
          out(o, r, () =>
            r.pending === true
              ? `${r.id} force-left: reaping it once every member agrees on the cut (pending, kept across restarts; see smac status)`
              : `${r.id} removed: compaction no longer waits for it`,
          );
          return;
        }
        const status = (o as { status?: 'alive' }).status;
        const [m, s] = await Promise.all([c.members(status), c.status()]);
        out(o, m, () => membersTable(m, s.peerId));
      }),
    );

  addRttCommand(program);

  const services = program.command('services').description('service discovery');
  services
    .command('list', { isDefault: true })
    .description('registered services')
    .action(
      run(async ({ client: c }, o) => {
        const r = (await c.services()) as ServicesView;
        out(o, r, () =>
          table(
            ['SERVICE', 'ENDPOINTS', 'HEALTHY'],
            r.services.map((s) => [s.name, String(s.endpoints), String(s.healthy)]),
          ),
        );
      }),
    );
  services
    .command('get <name>')
    .description('healthy endpoints of a service (--all for every endpoint)')
    .option('--all', 'include unhealthy endpoints and endpoints of dead nodes')
    .action(
      run(async ({ client: c }, o, name) => {
        const r = (await c.service(req(name), {
          all: (o as { all?: boolean }).all === true,
        })) as EndpointsView;
        out(o, r, () =>
          table(
            ['ID', 'ADDRESS', 'NODE', 'REGION', 'NODE STATUS', 'CHECK', 'HEALTHY'],
            r.endpoints.map((e) => [
              e.id,
              `${e.address}:${e.port}`,
              short(e.node),
              e.region ?? '-',
              e.nodeStatus,
              e.check ? `${e.check.type} ${e.check.status}` : '-',
              e.healthy ? 'yes' : 'no',
            ]),
          ),
        );
      }),
    );
  services
    .command('register <name> <id> <endpoint>')
    .description(
      `register an endpoint on this node, e.g. '{"address":"10.0.0.5","port":8080,"check":{"type":"tcp","host":"10.0.0.5","port":8080}}'`,
    )
    .action(
      run(async ({ client: c }, o, name, id, endpoint) => {
        const r = await c.register(
          req(name),
          req(id),
          parseJson(req(endpoint), 'endpoint') as Record<string, unknown>,
        );
        out(o, r, () => 'registered');
      }),
    );
  services
    .command('deregister <name> <id>')
    .description('remove an endpoint')
    .action(
      run(async ({ client: c }, o, name, id) => {
        const r = await c.deregister(req(name), req(id));
        out(o, r ?? { service: name, id, deregistered: true }, () => 'deregistered');
      }),
    );

  const load = program.command('load').description('load monitoring');
  load
    .command('get [metric]', { isDefault: true })
    .description('a metric summed over live nodes, per node and per region (no metric: list them)')
    .action(
      run(async ({ client: c }, o, metric) => {
        if (metric === undefined) {
          const r = (await c.loadMetrics()) as MetricsView;
          out(o, r, () =>
            table(
              ['METRIC', 'COUNTER', 'GAUGE'],
              r.metrics.map((m) => [m.name, m.counter ? 'yes' : 'no', m.gauge ? 'yes' : 'no']),
            ),
          );
          return;
        }
        const r = (await c.load(metric)) as LoadView;
        out(
          o,
          r,
          () =>
            [
              r.counter ? figuresTable('counter', r.counter) : '',
              r.gauge ? figuresTable('gauge', r.gauge) : '',
            ]
              .filter((s) => s !== '')
              .join('\n\n') || `no figures for ${metric}`,
        );
      }),
    );
  load
    .command('add <metric> <by>')
    .description("change this node's counter (negative to decrement)")
    .action(
      run(async ({ client: c }, o, metric, by) => {
        const n = Number(by);
        if (!Number.isSafeInteger(n) || n === 0) throw new UsageError('by must be a non-zero integer.');
        const r = (await c.loadAdd(req(metric), n)) as { value: unknown };
        out(o, r, () => show(r.value));
      }),
    );
  load
    .command('gauge <metric> <value>')
    .description("set this node's gauge")
    .action(
      run(async ({ client: c }, o, metric, value) => {
        const n = Number(value);
        if (!Number.isFinite(n)) throw new UsageError('value must be a number.');
        const r = (await c.setGauge(req(metric), n)) as { value: unknown };
        out(o, r, () => show(r.value));
      }),
    );
}

/** The force-leaves `smac status` names: those still waiting for their agreed cut. */
function forceLeavesPending(s: object): { peerId: string; at: number }[] {
  const list = (s as { compaction?: { forceLeaves?: unknown } }).compaction?.forceLeaves;
  return Array.isArray(list) ? (list as { peerId: string; at: number }[]) : [];
}
