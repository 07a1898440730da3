/**
 * `smac ui`: prints a one-time URL that logs a browser in to the agent's dashboard (docs/ui.md).
 * The CLI can authenticate (the socket, or the token) and a browser cannot, so the agent hands
 * the CLI a short-lived single-use code, and the URL trades it for a session cookie.
 */
import type { Command } from 'commander';
import { SmacApiError } from '../client/client.js';
import { CliError, EXIT, out, run } from './cli-support.js';

export function addUiCommand(program: Command): void {
  program
    .command('ui')
    .description(
      'print a one-time URL that opens the agent dashboard in a browser (agent started with --ui --api-tcp)',
    )
    .action(
      run(async ({ client: c, where }, o) => {
        let reply;
        try {
          reply = await c.uiLoginCode();
        } catch (e) {
          if (e instanceof SmacApiError && e.code === 'NOT_FOUND') {
            throw new CliError(
              `The agent at ${where} does not serve the dashboard; start it with --ui --api-tcp.`,
              EXIT.failed,
            );
          }
          throw e;
        }
        out(o, reply, () =>
          [
            reply.url,
            `Open it within ${Math.round(reply.expiresInMs / 1000)} s; it works once and logs that browser in.`,
          ].join('\n'),
        );
      }),
    );
}
