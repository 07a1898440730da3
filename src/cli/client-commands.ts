/**
 * `smac` commands that talk to the local agent over its REST API (docs/cli.md): the global
 * options that say where the agent is, and the command groups, each in its own file. Where the
 * agent is, the exit codes and the error wording live in cli-support.ts.
 * Output is human-readable; `--json` prints the API's JSON instead.
 */
import type { Command } from 'commander';
import { SHARED_SOCKET } from './cli-support.js';
import { addClusterCommands } from './cluster-commands.js';
import { addObjectCommands } from './object-commands.js';
import { addUiCommand } from './ui-command.js';
import { addWatchCommand } from './watch-command.js';

export { CliError, EXIT, run, UsageError } from './cli-support.js';

export function addClientCommands(program: Command): void {
  program
    .option(
      '--socket <path>',
      `agent API socket (else SMAC_SOCKET, $SMAC_DATA_DIR/smac.sock, ./.smac-data/smac.sock, ${SHARED_SOCKET})`,
    )
    .option('--url <url>', 'agent API over TCP instead, e.g. http://127.0.0.1:7947 (or SMAC_URL)')
    .option('--token <token>', 'bearer token for --url (or SMAC_TOKEN; visible in ps: prefer a file)')
    .option(
      '--token-file <file>',
      'file with the bearer token for --url (or SMAC_TOKEN_FILE; default <data dir>/api.token)',
    )
    .option('--json', 'print JSON (one event per line for watch)');

  addClusterCommands(program);
  addObjectCommands(program);
  addWatchCommand(program);
  addUiCommand(program);
}
