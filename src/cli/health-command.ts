/**
 * `smac health [--ready] [--wait <s>]`: asks the local agent whether it is live (or ready),
 * over its socket by default. Made for process supervisors: the image's HEALTHCHECK and the
 * Kubernetes probes run it. Exit code 0 when healthy; 1 when the agent answers that it is not
 * (503, with the failing check printed); 3 when the agent cannot be reached.
 */
import type { Command } from 'commander';
import { type HealthReply, SmacApiError } from '../client/client.js';
import {
  type AgentTarget,
  CliError,
  cliErrorOf,
  EXIT,
  type GlobalOptions,
  locateAgent,
  out,
  UsageError,
} from './cli-support.js';

interface HealthOptions extends GlobalOptions {
  ready?: boolean;
  wait?: string;
}

export function addHealthCommand(program: Command): void {
  program
    .command('health')
    .description('exit 0 if the local agent is live (--ready: ready), 1 if not, 3 if unreachable')
    .option('--ready', 'readiness: also connected to a peer when join addresses are configured')
    .option('--wait <seconds>', 'retry until healthy or this many seconds passed')
    .action(async (_flags: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<HealthOptions>();
      const waitMs = opts.wait === undefined ? 0 : Number(opts.wait) * 1000;
      if (!Number.isFinite(waitMs) || waitMs < 0) throw new UsageError('--wait must be a number of seconds.');
      const h = await probeUntil(opts, Date.now() + waitMs);
      out(opts, h, () => human(h));
    });
}

/** Asks until healthy or `deadline`: not there yet (exit 3) or not healthy yet (503) is retried. */
async function probeUntil(opts: HealthOptions, deadline: number): Promise<HealthReply> {
  for (;;) {
    let target: AgentTarget | undefined;
    try {
      target = locateAgent(opts);
      return await target.client.health({ ready: opts.ready === true });
    } catch (e) {
      const err = e instanceof SmacApiError ? cliErrorOf(e, target?.where ?? 'the agent') : e;
      const transient =
        (err instanceof CliError && err.exitCode === EXIT.unreachable) ||
        (e instanceof SmacApiError && e.status === 503);
      if (!transient || Date.now() + 500 > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      target?.client.close();
    }
  }
}

function human(h: HealthReply): string {
  return [
    `${h.ready ? 'ready' : 'live, not ready'}  ${h.peerId ?? ''}`,
    `  store  ${h.checks.store.message}`,
    `  peers  ${h.checks.peers.message}`,
  ].join('\n');
}
