/**
 * `smac health [--ready] [--wait <s>]`: asks the local agent whether it is live (or ready),
 * over its socket by default. Made for process supervisors: the image's HEALTHCHECK and the
 * Kubernetes probes run it. Exit code 0 when healthy; 1 when the agent answers that it is not
 * (503, with the failing check printed); 3 when the agent cannot be reached.
 */
import type { Command } from 'commander';
import { type HealthReply, SmacApiError } from '../client/client.js';
import { clientFrom, type GlobalOptions, UsageError } from './client-commands.js';

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
      const deadline = Date.now() + waitMs;
      const client = clientFrom(opts);
      try {
        const h = await retry(() => client.health({ ready: opts.ready === true }), deadline);
        process.stdout.write((opts.json === true ? JSON.stringify(h, null, 2) : human(h)) + '\n');
      } finally {
        client.close();
      }
    });
}

async function retry(probe: () => Promise<HealthReply>, deadline: number): Promise<HealthReply> {
  for (;;) {
    try {
      return await probe();
    } catch (e) {
      // Unreachable (0) or not healthy yet (503): worth another try; anything else is not.
      const transient = e instanceof SmacApiError && (e.status === 0 || e.status === 503);
      if (!transient || Date.now() + 500 > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
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
