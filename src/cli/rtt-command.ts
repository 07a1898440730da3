/**
 * `smac rtt [member-a] [member-b]` (issue 8; Serf's `serf rtt`): the round trips the failure
 * detector of the asked agent measured to the other members (`rtt` in `GET /v1/members`,
 * docs/membership.md "Adaptive timeouts"). A member is named by peer id or region. With two,
 * one of them must be the asked agent: an agent measures only its own round trips (there are
 * no network coordinates), so the round trip between two other members is asked of one of
 * them (`--socket` or `--url`).
 */
import type { Command } from 'commander';
import type { MembersReply } from '../client/client.js';
import { CliError, EXIT, out, run, table } from './cli-support.js';

type Member = MembersReply['members'][number];

function matches(m: Member, name: string): boolean {
  return m.id === name || m.region === name;
}

function rttTable(rows: readonly Member[]): string {
  return table(
    ['ID', 'REGION', 'SRTT', 'RTTVAR', 'PROBE TIMEOUT', 'SAMPLES'],
    rows.map((x) => {
      const r = x.rtt;
      return [
        x.id,
        x.region ?? '-',
        `${String(r?.srttMs)} ms`,
        `${String(r?.rttvarMs)} ms`,
        `${String(r?.probeTimeoutMs)} ms`,
        String(r?.samples),
      ];
    }),
  );
}

/** The members `name` (peer id or region) stands for to which a round trip was measured. */
function measured(members: readonly Member[], name: string): Member[] {
  const rows = members.filter((x) => x.rtt !== undefined && matches(x, name));
  if (rows.length === 0)
    throw new CliError(
      `No round trip measured to ${name} yet: name a member this agent probes (peer id or region).`,
      EXIT.failed,
    );
  return rows;
}

export function addRttCommand(program: Command): void {
  program
    .command('rtt [member-a] [member-b]')
    .description(
      'round trips the failure detector measured from this agent: to every member, to one (peer id or region), or between this agent and another',
    )
    .action(
      run(async ({ client: c }, o, a, b) => {
        const all = (await c.members()).members;
        if (a === undefined) {
          const rows = all.filter((x) => x.rtt !== undefined);
          out(o, rows, () => rttTable(rows));
          return;
        }
        if (b === undefined) {
          const rows = measured(all, a);
          out(o, rows, () => rttTable(rows));
          return;
        }
        const self = (await c.status()).peerId;
        const me = all.find((x) => x.id === self);
        const isSelf = (name: string): boolean => name === self || (me !== undefined && matches(me, name));
        const other = isSelf(a) ? b : isSelf(b) ? a : undefined;
        if (other === undefined)
          throw new CliError(
            `This agent (${self}${me?.region === undefined ? '' : `, region ${me.region}`}) measures round trips ` +
              `only from itself, and neither ${a} nor ${b} is it: ask the agent of one of them ` +
              `(smac --socket PATH rtt ${a} ${b}).`,
            EXIT.failed,
          );
        const rows = measured(
          all.filter((x) => x.id !== self),
          other,
        );
        out(o, rows, () =>
          rows
            .map(
              (x) =>
                `Estimated ${self} <-> ${x.id}${x.region === undefined ? '' : ` (${x.region})`} rtt: ` +
                `${String(x.rtt?.srttMs)} ms (smoothed over ${String(x.rtt?.samples)} samples, ` +
                `deviation ${String(x.rtt?.rttvarMs)} ms)`,
            )
            .join('\n'),
        );
      }),
    );
}
