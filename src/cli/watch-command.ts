/**
 * `smac watch [prefix]`: one line per change (time, type, key, value), or with `--json` the raw
 * stream, one JSON event per line. When the agent goes away (a restart, say) the watch
 * reconnects with backoff and resumes from its last cursor, saying so on stderr; after
 * `--retry-for` seconds without the agent it gives up with a message and exit code 3.
 *
 * A snapshot (the first event, or after a resume the agent could not answer from its log)
 * prints only what differs from what was printed already, so a resume repeats nothing.
 */
import type { Command } from 'commander';
import { SmacApiError, type WatchEvent } from '../client/client.js';
import {
  CliError,
  cliErrorOf,
  EXIT,
  type GlobalOptions,
  reason,
  run,
  show,
  UsageError,
} from './cli-support.js';

/** Default for --retry-for: long enough for an agent restart, short enough to notice a dead one. */
export const DEFAULT_RETRY_FOR_S = 60;
const MAX_DELAY_MS = 2_000;

function clockTime(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Prints events as lines, remembering what it printed so that snapshots repeat nothing. */
class Printer {
  private readonly shown = new Map<string, string>();

  constructor(private readonly json: boolean) {}

  print(ev: WatchEvent): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(ev) + '\n');
      return;
    }
    const now = clockTime(new Date());
    if (ev.kind === 'change') {
      this.line(now, ev.type, ev.key, ev.deleted === true ? undefined : ev.value);
      return;
    }
    const present = new Set<string>();
    for (const o of ev.objects) {
      present.add(`${o.type} ${o.key}`);
      this.line(now, o.type, o.key, o.value);
    }
    for (const id of [...this.shown.keys()]) {
      if (present.has(id)) continue;
      const [type = '', ...key] = id.split(' ');
      this.line(now, type, key.join(' '), undefined);
    }
  }

  private line(now: string, type: string, key: string, value: unknown): void {
    const id = `${type} ${key}`;
    const text = value === undefined ? '(deleted)' : show(value);
    if (this.shown.get(id) === text) return;
    if (value === undefined) this.shown.delete(id);
    else this.shown.set(id, text);
    process.stdout.write(`${now}  ${type.padEnd(12)}  ${key}  ${text}\n`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function addWatchCommand(program: Command): void {
  program
    .command('watch [prefix]')
    .description(
      'follow changes under a prefix: one line per change (time, type, key, value); --json for the raw events',
    )
    .option('--cursor <cursor>', 'resume after this cursor (the id of an event seen with --json)')
    .option(
      '--retry-for <seconds>',
      `how long to keep reconnecting when the agent is gone (default ${DEFAULT_RETRY_FOR_S})`,
    )
    .action(
      run(async ({ client, where }, o, prefix) => {
        const flags = o as GlobalOptions & { cursor?: string; retryFor?: string };
        const retryForS = flags.retryFor === undefined ? DEFAULT_RETRY_FOR_S : Number(flags.retryFor);
        if (!Number.isFinite(retryForS) || retryForS < 0)
          throw new UsageError(`--retry-for must be a number of seconds (got ${String(flags.retryFor)}).`);
        const printer = new Printer(flags.json === true);
        let cursor = flags.cursor;
        let stopped = false;
        let current: ReturnType<typeof client.watch> | undefined;
        // Read through a function: the signal handlers change it between awaits.
        const isStopped = (): boolean => stopped;
        const stop = (): void => {
          stopped = true;
          current?.close();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let lostAt: number | undefined;
        let delayMs = 100;
        while (!isStopped()) {
          const stream = client.watch({ prefix: prefix ?? '', ...(cursor ? { cursor } : {}) });
          current = stream;
          let why = 'the agent closed the stream';
          try {
            for await (const ev of stream) {
              if (lostAt !== undefined) {
                process.stderr.write(`smac: reconnected to the agent; resumed from the last cursor\n`);
                lostAt = undefined;
                delayMs = 100;
              }
              printer.print(ev);
            }
          } catch (e) {
            if (!(e instanceof SmacApiError)) throw e;
            // An answer of the API (a bad cursor, too many watches) is not fixed by retrying.
            if (e.status >= 400 && e.status < 500) throw cliErrorOf(e, where);
            why = e.status === 0 ? reason(e) : e.message;
          }
          cursor = stream.cursor ?? cursor;
          if (isStopped()) return;
          const now = Date.now();
          if (lostAt === undefined) {
            lostAt = now;
            process.stderr.write(
              `smac: lost the agent at ${where}: ${why}; reconnecting, resuming from the last cursor\n`,
            );
          } else if (now - lostAt >= retryForS * 1000) {
            throw new CliError(
              `Gave up after ${retryForS} s without the agent at ${where}. Resume later with ` +
                `smac watch ${prefix ?? ''} --cursor ${cursor ?? '<none yet>'}`,
              EXIT.unreachable,
            );
          }
          await sleep(delayMs);
          delayMs = Math.min(MAX_DELAY_MS, delayMs * 2);
        }
      }),
    );
}
