/**
 * `smac` commands that talk to the local agent over its REST API: the Unix socket by default
 * (`--socket`, `SMAC_SOCKET`, else `<data dir>/smac.sock`), or TCP with `--url`. Over TCP the
 * CLI sends the agent's bearer token: `--token`, `--token-file`, `SMAC_TOKEN`,
 * `SMAC_TOKEN_FILE`, else the file the agent generates, `<data dir>/api.token`. The data
 * directory is `SMAC_DATA_DIR` (the agent's setting), else ./.smac-data.
 * Output is human-readable; `--json` prints the API's JSON instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isTypeName, type TypeName } from '../core/crdt/crdt.js';
import { SmacClient } from '../client/client.js';

interface GlobalOptions {
  socket?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function clientFrom(opts: GlobalOptions): SmacClient {
  const dataDir = resolve(process.env.SMAC_DATA_DIR ?? '.smac-data');
  const url = opts.url ?? process.env.SMAC_URL;
  if (url) {
    const token = tokenFor(opts, dataDir);
    return new SmacClient({ url, ...(token ? { token } : {}) });
  }
  const socketPath = resolve(opts.socket ?? process.env.SMAC_SOCKET ?? join(dataDir, 'smac.sock'));
  return new SmacClient({ socketPath });
}

/** The first source that is set: flags, then environment, then the agent's generated file. */
function tokenFor(opts: GlobalOptions, dataDir: string): string | undefined {
  if (opts.token !== undefined) return opts.token;
  const generated = join(dataDir, 'api.token');
  const file =
    opts.tokenFile ??
    process.env.SMAC_TOKEN_FILE ??
    (process.env.SMAC_TOKEN === undefined && existsSync(generated) ? generated : undefined);
  if (file === undefined) return process.env.SMAC_TOKEN;
  try {
    return readFileSync(file, 'utf8').split('\n')[0]?.trim();
  } catch (e) {
    throw new UsageError(`Cannot read the API token file ${file}: ${(e as Error).message}.`);
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // A bare word is a string: `smac set lww-register k hello` sets "hello".
    if (/^[^{}[\]"]*$/.test(text) && !/^(true|false|null|-?\d)/.test(text)) return text;
    throw new UsageError(`The ${what} must be JSON (got ${text}); quote strings, e.g. '"text"'.`);
  }
}

function typeArg(t: string | undefined): TypeName {
  if (!isTypeName(t)) {
    throw new UsageError(
      `Unknown type ${String(t)}; use pn-counter, lww-register, mv-register, aw-set, rw-set, ew-flag or or-map.`,
    );
  }
  return t;
}

function out(opts: GlobalOptions, data: unknown, human: () => string): void {
  process.stdout.write((opts.json ? JSON.stringify(data, null, 2) : human()) + '\n');
}

/** A positional argument commander guarantees; named for the type checker. */
function req(v: string | undefined): string {
  if (v === undefined) throw new UsageError('A required argument is missing; see --help.');
  return v;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function addClientCommands(program: Command): void {
  const g = (cmd: Command): GlobalOptions => cmd.optsWithGlobals();
  const run =
    (fn: (client: SmacClient, opts: GlobalOptions, ...args: (string | undefined)[]) => Promise<void>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const opts = g(cmd);
      const client = clientFrom(opts);
      try {
        await fn(client, opts, ...(args.slice(0, -2) as (string | undefined)[]));
      } finally {
        client.close();
      }
    };

  program
    .option(
      '--socket <path>',
      'agent API socket (or SMAC_SOCKET; default <data dir>/smac.sock, the data dir being SMAC_DATA_DIR or ./.smac-data)',
    )
    .option('--url <url>', 'agent API over TCP instead, e.g. http://127.0.0.1:7947 (or SMAC_URL)')
    .option('--token <token>', 'bearer token for --url (or SMAC_TOKEN; visible in ps: prefer a file)')
    .option(
      '--token-file <file>',
      'file with the bearer token for --url (or SMAC_TOKEN_FILE; default <data dir>/api.token)',
    )
    .option('--json', 'print JSON');

  program
    .command('status')
    .description("the local agent's status: peers, clock, buffer, log")
    .action(
      run(async (c, o) => {
        const s = await c.status();
        out(o, s, () =>
          [
            `peer id   ${s.peerId}`,
            `region    ${s.region}`,
            `objects   ${s.objects}`,
            `log       ${s.log.events} events, ${s.log.bytes} bytes`,
            `buffered  ${s.buffered}`,
            `peers     ${s.peers.length}`,
            ...s.peers.map(
              (p) =>
                `  ${p.peerId} ${p.connected ? 'connected' : 'disconnected'} ${p.region ?? ''} lag=${p.lag ?? '?'}`,
            ),
          ].join('\n'),
        );
      }),
    );

  program
    .command('members [action] [peerId]')
    .description(
      'cluster members and their health; `members force-leave PEER` removes a member that will not come back',
    )
    .option('--status <status>', 'only alive, suspect, dead or left')
    .action(
      run(async (c, o, action, id) => {
        if (action !== undefined) {
          if (action !== 'force-leave')
            throw new UsageError(`Unknown members action ${action}; use: smac members force-leave PEER_ID.`);
          const r = await c.forceLeave(req(id));
          out(o, r, () => `${r.id} removed: compaction no longer waits for it`);
          return;
        }
        const status = (o as { status?: 'alive' }).status;
        const m = await c.members(status);
        out(o, m, () =>
          m.members
            .map((x) => `${x.id}  ${x.status.padEnd(7)} ${x.region ?? '-'}  inc=${x.incarnation}`)
            .join('\n'),
        );
      }),
    );

  program
    .command('rtt [member]')
    .description(
      'round trips the failure detector measured from this agent: to every member, or one (peer id or region)',
    )
    .action(
      run(async (c, o, member) => {
        const rows = (await c.members()).members.filter(
          (x) => x.rtt !== undefined && (member === undefined || x.id === member || x.region === member),
        );
        if (member !== undefined && rows.length === 0)
          throw new UsageError(
            `No round trip measured to ${member} yet: name a member probed by this agent.`,
          );
        out(o, rows, () =>
          rows
            .map((x) => {
              const r = x.rtt;
              return `${x.id}  ${(x.region ?? '-').padEnd(8)} srtt ${r?.srttMs} ms  rttvar ${r?.rttvarMs} ms  probe timeout ${r?.probeTimeoutMs} ms  (${r?.samples} samples)`;
            })
            .join('\n'),
        );
      }),
    );

  program
    .command('get <type> <key>')
    .description('read an object')
    .action(
      run(async (c, o, type, key) => {
        const r = await c.read(typeArg(type), req(key));
        out(o, r, () => show(r.value));
      }),
    );

  program
    .command('ls [prefix]')
    .description('list objects under a key prefix')
    .action(
      run(async (c, o, prefix) => {
        const objects: { key: string; type: string; value: unknown }[] = [];
        for await (const obj of c.listAll(prefix ?? '')) objects.push(obj);
        out(o, objects, () => objects.map((x) => `${x.key}  (${x.type})  ${show(x.value)}`).join('\n'));
      }),
    );

  program
    .command('create <type> <key>')
    .description('create an empty object')
    .action(
      run(async (c, o, type, key) => {
        const r = await c.create(typeArg(type), req(key));
        out(o, r, () => (r.created ? 'created' : 'exists'));
      }),
    );

  program
    .command('del <type> <key>')
    .description('delete an object')
    .action(
      run(async (c, o, type, key) => {
        const r = await c.delete(typeArg(type), req(key));
        out(o, r, () => 'deleted');
      }),
    );

  program
    .command('op <type> <key> <op>')
    .description(`apply one op given as JSON, e.g. smac op pn-counter hits '{"kind":"increment","by":2}'`)
    .action(
      run(async (c, o, type, key, op) => {
        const r = await c.op(typeArg(type), req(key), parseJson(req(op), 'op') as never);
        out(o, r, () => show(r.value));
      }),
    );

  const shortcut = (
    name: string,
    description: string,
    build: (arg: string | undefined) => unknown,
    type?: TypeName,
  ): void => {
    const usage = type ? `${name} <key> [arg]` : `${name} <type> <key> [arg]`;
    program
      .command(usage)
      .description(description)
      .action(
        run(async (c, o, ...args) => {
          const [t, key, arg] = type ? [type, args[0], args[1]] : [typeArg(req(args[0])), args[1], args[2]];
          const r = await c.op(t, req(key), build(arg) as never);
          out(o, r, () => show(r.value));
        }),
      );
  };
  shortcut(
    'inc',
    'increment a pn-counter (by 1 or [arg])',
    (a) => ({ kind: 'increment', by: a ? Number(a) : 1 }),
    'pn-counter',
  );
  shortcut(
    'dec',
    'decrement a pn-counter (by 1 or [arg])',
    (a) => ({ kind: 'decrement', by: a ? Number(a) : 1 }),
    'pn-counter',
  );
  shortcut('set', 'set a register (lww-register or mv-register) to a JSON value', (a) => ({
    kind: 'set',
    value: parseJson(a ?? 'null', 'value'),
  }));
  shortcut('add', 'add a JSON element to a set (aw-set or rw-set)', (a) => ({
    kind: 'add',
    value: parseJson(a ?? 'null', 'element'),
  }));
  shortcut('remove', 'remove a JSON element from a set', (a) => ({
    kind: 'remove',
    value: parseJson(a ?? 'null', 'element'),
  }));
  shortcut('enable', 'enable an ew-flag', () => ({ kind: 'enable' }), 'ew-flag');
  shortcut('disable', 'disable an ew-flag', () => ({ kind: 'disable' }), 'ew-flag');

  program
    .command('batch <file>')
    .description('apply {"ops":[{type,key,op},...]} (from a file, or - for stdin) as one atomic event')
    .action(
      run(async (c, o, file) => {
        const text = readFileSync(file === '-' ? 0 : req(file), 'utf8');
        const body = parseJson(text, 'batch') as { ops?: unknown };
        if (!Array.isArray(body.ops))
          throw new UsageError('The batch must be {"ops": [{"type","key","op"}, ...]}.');
        const r = await c.batch(body.ops as never);
        out(
          o,
          r,
          () => `applied ${body.ops instanceof Array ? body.ops.length : 0} ops as ${r.origin}:${r.seq}`,
        );
      }),
    );

  program
    .command('watch [prefix]')
    .description('follow changes under a prefix (server-sent events); resumable with --cursor')
    .option('--cursor <cursor>', 'resume after this cursor')
    .action(
      run(async (c, o, prefix) => {
        const cursor = (o as { cursor?: string }).cursor;
        const stream = c.watch({ prefix: prefix ?? '', ...(cursor ? { cursor } : {}) });
        process.once('SIGINT', () => {
          stream.close();
        });
        for await (const ev of stream) {
          out(o, ev, () => JSON.stringify(ev));
        }
      }),
    );

  const services = program.command('services').description('service discovery');
  services
    .command('list', { isDefault: true })
    .description('registered services')
    .action(
      run(async (c, o) => {
        const r = await c.services();
        out(o, r, () => JSON.stringify(r, null, 2));
      }),
    );
  services
    .command('get <name>')
    .description('healthy endpoints of a service (--all for every endpoint)')
    .option('--all', 'include unhealthy endpoints and endpoints of dead nodes')
    .action(
      run(async (c, o, name) => {
        const r = await c.service(req(name), { all: (o as { all?: boolean }).all === true });
        out(o, r, () => JSON.stringify(r, null, 2));
      }),
    );
  services
    .command('register <name> <id> <endpoint>')
    .description(
      `register an endpoint on this node, e.g. '{"address":"10.0.0.5","port":8080,"check":{"type":"tcp","host":"10.0.0.5","port":8080}}'`,
    )
    .action(
      run(async (c, o, name, id, endpoint) => {
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
      run(async (c, o, name, id) => {
        const r = await c.deregister(req(name), req(id));
        out(o, r, () => 'deregistered');
      }),
    );

  const load = program.command('load').description('load monitoring');
  load
    .command('get [metric]', { isDefault: true })
    .description('a metric summed over live nodes, per node and per region (no metric: list them)')
    .action(
      run(async (c, o, metric) => {
        const r = metric ? await c.load(metric) : await c.loadMetrics();
        out(o, r, () => JSON.stringify(r, null, 2));
      }),
    );
  load
    .command('add <metric> <by>')
    .description("change this node's counter (negative to decrement)")
    .action(
      run(async (c, o, metric, by) => {
        const n = Number(by);
        if (!Number.isSafeInteger(n) || n === 0) throw new UsageError('by must be a non-zero integer.');
        const r = await c.loadAdd(req(metric), n);
        out(o, r, () => JSON.stringify(r));
      }),
    );
  load
    .command('gauge <metric> <value>')
    .description("set this node's gauge")
    .action(
      run(async (c, o, metric, value) => {
        const n = Number(value);
        if (!Number.isFinite(n)) throw new UsageError('value must be a number.');
        const r = await c.setGauge(req(metric), n);
        out(o, r, () => JSON.stringify(r));
      }),
    );
}
