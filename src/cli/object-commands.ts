/**
 * `smac` commands on objects: get (with or without a type), ls, create, del, op, the shortcuts
 * (inc, dec, set, add, remove, enable, disable) and batch. Human output is the value (or a
 * table); `--json` prints the API's reply.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { TypeName } from '../core/crdt/crdt.js';
import { SmacApiError, type SmacClient } from '../client/client.js';
import { CliError, EXIT, out, parseJson, req, run, show, table, typeArg, UsageError } from './cli-support.js';

/** NOT_FOUND of one object, in the CLI's words. */
async function onObject<T>(type: string, key: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SmacApiError && e.code === 'NOT_FOUND') {
      throw new CliError(
        `There is no ${type} ${JSON.stringify(key)} on this agent (never created, deleted, or not arrived yet).`,
        EXIT.failed,
      );
    }
    throw e;
  }
}

/** The objects under exactly `key`, one per type (a page never splits a key's objects). */
async function objectsAt(c: SmacClient, key: string) {
  const page = await c.list({ prefix: key, limit: 1 });
  return { objects: page.objects.filter((o) => o.key === key), clock: page.clock };
}

export function addObjectCommands(program: Command): void {
  program
    .command('get <type-or-key> [key]')
    .description('read an object: `get KEY` finds it whatever its type, `get TYPE KEY` names the type')
    .action(
      run(async ({ client: c }, o, first, second) => {
        if (second !== undefined) {
          const type = typeArg(first);
          const r = await onObject(type, second, () => c.read(type, second));
          out(o, r, () => show(r.value));
          return;
        }
        const key = req(first);
        const { objects, clock } = await objectsAt(c, key);
        const [only, ...more] = objects;
        if (only === undefined)
          throw new CliError(
            `There is no object with key ${JSON.stringify(key)} on this agent.`,
            EXIT.failed,
          );
        if (more.length > 0) {
          const types = objects.map((x) => x.type).join(', ');
          throw new CliError(
            `The key ${JSON.stringify(key)} is held by ${objects.length} types here (${types}), ` +
              'which agents in two partitions may create; name one: smac get TYPE KEY.',
            EXIT.failed,
          );
        }
        out(o, { ...only, clock }, () => show(only.value));
      }),
    );

  program
    .command('ls [prefix]')
    .description('list objects under a key prefix: key, type and value')
    .action(
      run(async ({ client: c }, o, prefix) => {
        const objects: { key: string; type: string; value: unknown }[] = [];
        for await (const obj of c.listAll(prefix ?? '')) objects.push(obj);
        out(o, objects, () =>
          table(
            ['KEY', 'TYPE', 'VALUE'],
            objects.map((x) => [x.key, x.type, show(x.value)]),
          ),
        );
      }),
    );

  program
    .command('create <type> <key>')
    .description('create an empty object')
    .action(
      run(async ({ client: c }, o, type, key) => {
        const r = await c.create(typeArg(type), req(key));
        out(o, r, () => (r.created ? 'created' : 'exists'));
      }),
    );

  program
    .command('del <type> <key>')
    .description('delete an object')
    .action(
      run(async ({ client: c }, o, type, key) => {
        const t = typeArg(type);
        const k = req(key);
        const r = await onObject(t, k, () => c.delete(t, k));
        out(o, r, () => 'deleted');
      }),
    );

  program
    .command('op <type> <key> <op>')
    .description(`apply one op given as JSON, e.g. smac op pn-counter hits '{"kind":"increment","by":2}'`)
    .action(
      run(async ({ client: c }, o, type, key, op) => {
        const r = await c.op(typeArg(type), req(key), parseJson(req(op), 'op') as never);
        out(o, r, () => show(r.value));
      }),
    );

  const shortcut = (
    usage: string,
    description: string,
    build: (arg: string | undefined) => unknown,
    type?: TypeName,
  ): void => {
    program
      .command(usage)
      .description(description)
      .action(
        run(async ({ client: c }, o, ...args) => {
          const [t, key, arg] = type ? [type, args[0], args[1]] : [typeArg(req(args[0])), args[1], args[2]];
          const r = await c.op(t, req(key), build(arg) as never);
          out(o, r, () => show(r.value));
        }),
      );
  };
  const amount = (a: string | undefined): number => {
    if (a === undefined) return 1;
    const n = Number(a);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new UsageError(`The amount must be a positive integer (got ${a}).`);
    return n;
  };
  const value = (what: string, example: string) => (a: string | undefined) => {
    if (a === undefined) throw new UsageError(`Give the value ${what}, as JSON, e.g. ${example}.`);
    return parseJson(a, 'value');
  };
  shortcut(
    'inc <key> [by]',
    'increment a pn-counter (by 1 or [by])',
    (a) => ({ kind: 'increment', by: amount(a) }),
    'pn-counter',
  );
  shortcut(
    'dec <key> [by]',
    'decrement a pn-counter (by 1 or [by])',
    (a) => ({ kind: 'decrement', by: amount(a) }),
    'pn-counter',
  );
  shortcut(
    'set <type> <key> <value>',
    'set a register (lww-register or mv-register) to a JSON value',
    (a) => ({
      kind: 'set',
      value: value('to set', `smac set lww-register app/mode '"blue"'`)(a),
    }),
  );
  shortcut('add <type> <key> <value>', 'add a JSON element to a set (aw-set or rw-set)', (a) => ({
    kind: 'add',
    value: value('of the element to add', `smac add aw-set app/tags '"blue"'`)(a),
  }));
  shortcut('remove <type> <key> <value>', 'remove a JSON element from a set', (a) => ({
    kind: 'remove',
    value: value('of the element to remove', `smac remove aw-set app/tags '"blue"'`)(a),
  }));
  shortcut('enable <key>', 'enable an ew-flag', () => ({ kind: 'enable' }), 'ew-flag');
  shortcut('disable <key>', 'disable an ew-flag', () => ({ kind: 'disable' }), 'ew-flag');

  program
    .command('batch <file>')
    .description('apply {"ops":[{type,key,op},...]} (from a file, or - for stdin) as one atomic event')
    .action(
      run(async ({ client: c }, o, file) => {
        let text: string;
        try {
          text = readFileSync(file === '-' ? 0 : req(file), 'utf8');
        } catch (e) {
          throw new UsageError(`Cannot read the batch file ${String(file)}: ${(e as Error).message}.`);
        }
        const body = parseJson(text, 'batch') as { ops?: unknown } | null;
        const ops = body?.ops;
        if (!Array.isArray(ops))
          throw new UsageError('The batch must be {"ops": [{"type","key","op"}, ...]}.');
        const r = await c.batch(ops as never);
        out(o, r, () => `applied ${ops.length} ops as ${r.origin}:${r.seq}`);
      }),
    );
}
