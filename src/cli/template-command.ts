/**
 * `smac template --template in.tmpl --out file [--exec cmd] [--once]`: renders a file from the
 * cluster's state and keeps it current, in the spirit of consul-template (docs/template.md).
 * A template that cannot be read or does not parse is bad usage (exit 2), reported before
 * anything is written; an agent that cannot be reached at start exits 3.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, EXIT, type GlobalOptions, run, UsageError } from './cli-support.js';
import { SmacApiError } from '../client/client.js';
import type { TemplateRunner } from '../template/runner.js';

interface TemplateFlags extends GlobalOptions {
  template: string;
  out: string;
  exec?: string;
  once?: boolean;
  waitMs?: string;
  pollMs?: string;
  execTimeoutMs?: string;
}

function ms(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 3_600_000) {
    throw new UsageError(`${flag} must be a whole number of milliseconds from ${min} to 3600000 (got ${v}).`);
  }
  return n;
}

export function addTemplateCommand(program: Command): void {
  program
    .command('template')
    .description('render a file from services, members, load and keys, and keep it current (consul-template)')
    .requiredOption('--template <file>', 'Handlebars template, e.g. {{#each (service "web")}}...{{/each}}')
    .requiredOption('--out <file>', 'file to write (atomically: a temporary file renamed over it)')
    .option('--exec <command>', 'run with sh -c after each change of the file (e.g. a proxy reload)')
    .option('--once', 'render once, run --exec if the file changed, and exit')
    .option('--wait-ms <ms>', 'changes within this long are rendered together (default 250)')
    .option('--poll-ms <ms>', 'how often the member list is read to notice dead nodes (default 1000)')
    .option('--exec-timeout-ms <ms>', 'a --exec command running longer is terminated (default 60000)')
    .action(
      run(async ({ client }, o) => {
        const flags = o as TemplateFlags;
        let source: string;
        try {
          source = readFileSync(flags.template, 'utf8');
        } catch (e) {
          throw new UsageError(`Cannot read the template ${flags.template}: ${(e as Error).message}.`);
        }
        const waitMs = ms(flags.waitMs, '--wait-ms', 0);
        const pollMs = ms(flags.pollMs, '--poll-ms', 50);
        const execTimeoutMs = ms(flags.execTimeoutMs, '--exec-timeout-ms', 100);
        // Loaded here, not at start: Handlebars is about 1 MB of source that `smac agent`,
        // which shares this program, would otherwise keep in memory (docs/benchmarks.md).
        const [{ TemplateError, TemplateRenderer }, { TemplateRunner }] = await Promise.all([
          import('../template/renderer.js'),
          import('../template/runner.js'),
        ]);
        let runner: TemplateRunner;
        try {
          runner = new TemplateRunner({
            agent: client,
            renderer: new TemplateRenderer(source, flags.template),
            out: flags.out,
            ...(flags.exec !== undefined ? { exec: flags.exec } : {}),
            ...(waitMs !== undefined ? { waitMs } : {}),
            ...(pollMs !== undefined ? { pollMs } : {}),
            ...(execTimeoutMs !== undefined ? { execTimeoutMs } : {}),
            log: (line) => process.stderr.write(`smac template: ${line}\n`),
          });
        } catch (e) {
          throw e instanceof TemplateError ? new UsageError(e.message) : e;
        }
        try {
          if (flags.once === true) {
            await runner.once();
            if (runner.lastExecCode !== undefined && runner.lastExecCode !== 0) {
              throw new CliError(`--exec exited with ${runner.lastExecCode}.`, EXIT.failed);
            }
            return;
          }
          const stop = (): void => {
            runner.stop();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          await runner.run();
        } catch (e) {
          if (e instanceof TemplateError) throw new UsageError(e.message);
          const code = e instanceof SmacApiError ? undefined : (e as { code?: unknown }).code;
          if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR') {
            throw new UsageError(`Cannot write ${flags.out}: ${(e as Error).message}.`);
          }
          throw e;
        }
      }),
    );
}
