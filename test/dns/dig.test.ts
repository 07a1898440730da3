// The DNS interface queried with a resolver that is not part of this project: Debian's dig,
// against a cluster of three agent processes each serving DNS. A service registered on each
// agent is answered by every agent; a region restricts; a member resolves; and an endpoint
// disappears from the answers once its node is killed (SIGKILL) and declared dead.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN } from '../support/agent-process.js';
import { describeWith, ensureExternal } from '../support/external.js';
import { type ClusterAgent, startThreeAgents, stopAgents, waitFor } from '../support/three-agents.js';

const run = promisify(execFile);
const digTool = ensureExternal('dig', ['dnsutils'], 'scripts/install-dnsutils.sh');

interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}
interface DigAnswer {
  status: string;
  flags: string;
  answers: DigRecord[];
  additionals: DigRecord[];
}

/** One dig query against an agent's DNS listener (`host:port` from its ready line). */
async function dig(agent: ClusterAgent, name: string, type = 'A', tcp = false): Promise<DigAnswer> {
  const [host, port] = String(agent.ready.dns).split(':') as [string, string];
  const { stdout } = await run(
    'dig',
    [
      `@${host}`,
      '-p',
      port,
      name,
      type,
      '+time=3',
      '+tries=1',
      '+noall',
      '+comments',
      '+answer',
      '+additional',
      ...(tcp ? ['+tcp'] : []),
    ],
    { timeout: 15_000 },
  );
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'none';
  const flags = /flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '';
  const out: DigAnswer = { status, flags, answers: [], additionals: [] };
  let section: DigRecord[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(';; ANSWER SECTION')) section = out.answers;
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = out.additionals;
    else if (line.startsWith(';') || line.trim() === '') continue;
    else if (section !== undefined) {
      const [rname, ttl, , rtype, ...data] = line.trim().split(/\s+/);
      if (rtype !== undefined && rtype !== 'OPT') {
        section.push({ name: rname ?? '', ttl: Number(ttl), type: rtype, data: data.join(' ') });
      }
    }
  }
  return out;
}

const ips = (r: DigAnswer) => r.answers.map((a) => a.data).sort();

describeWith([digTool], 'DNS queried with dig against three agent processes', () => {
  let agents: ClusterAgent[];
  let a: ClusterAgent, b: ClusterAgent, c: ClusterAgent;

  beforeAll(async () => {
    expect(existsSync(BIN), 'dist/ is missing: run `npm run build`').toBe(true);
    agents = await startThreeAgents(() => ['--dns-address', '127.0.0.1:0', '--dns-ttl-seconds', '1']);
    [a, b, c] = agents as [ClusterAgent, ClusterAgent, ClusterAgent];
    for (const p of agents) expect(p.ready.dns).toMatch(/^127\.0\.0\.1:\d+$/);
    await a.client.register('web', 'web-a', { address: '127.0.0.11', port: 8081 });
    await b.client.register('web', 'web-b', { address: '127.0.0.12', port: 8082 });
    await c.client.register('web', 'web-c', { address: '127.0.0.13', port: 8083 });
  }, 120_000);

  afterAll(() => {
    stopAgents(agents);
  });

  it('every agent answers A records of the endpoints registered on all three', async () => {
    for (const p of agents) {
      const r = await waitFor(
        () => dig(p, 'web.service.smac'),
        (x) => x.answers.length === 3,
        `three A records from ${p.name}`,
      );
      expect(r.status).toBe('NOERROR');
      expect(r.flags).toContain('aa');
      expect(ips(r)).toEqual(['127.0.0.11', '127.0.0.12', '127.0.0.13']);
      expect(r.answers.every((x) => x.ttl === 1 && x.type === 'A')).toBe(true);
    }
  }, 120_000);

  it('SRV gives the ports, with the targets resolved in the additional section; TCP works too', async () => {
    for (const tcp of [false, true]) {
      const r = await dig(b, 'web.service.smac', 'SRV', tcp);
      expect(r.answers.map((x) => x.data).sort()).toEqual([
        '1 1 8081 7f00000b.addr.smac.',
        '1 1 8082 7f00000c.addr.smac.',
        '1 1 8083 7f00000d.addr.smac.',
      ]);
      expect(r.additionals.map((x) => `${x.name} ${x.data}`).sort()).toEqual([
        '7f00000b.addr.smac. 127.0.0.11',
        '7f00000c.addr.smac. 127.0.0.12',
        '7f00000d.addr.smac. 127.0.0.13',
      ]);
    }
  });

  it('a region restricts the answer; a member resolves by its id; unknown names are NXDOMAIN', async () => {
    expect(ips(await dig(a, 'web.service.us-west.smac'))).toEqual(['127.0.0.13']);
    expect(ips(await dig(a, 'web.service.eu-central.smac'))).toEqual(['127.0.0.11', '127.0.0.12']);
    expect(ips(await dig(a, `${c.peerId}.node.smac`))).toEqual(['127.0.0.1']);
    const txt = await dig(a, `${c.peerId}.node.smac`, 'TXT');
    expect(txt.answers.map((x) => x.data)).toEqual(['"status=alive" "region=us-west"']);
    expect((await dig(a, 'nope.service.smac')).status).toBe('NXDOMAIN');
    expect((await dig(a, 'web.service.smac', 'MX')).status).toBe('NOERROR');
    expect((await dig(a, 'example.com')).status).toBe('REFUSED');
  });

  it("a killed node's endpoint disappears from the answers of the others", async () => {
    c.proc.process.kill('SIGKILL');
    for (const p of [a, b]) {
      const r = await waitFor(
        () => dig(p, 'web.service.smac'),
        (x) => x.status === 'NOERROR' && x.answers.length === 2,
        `web-c gone from ${p.name}'s answer`,
        60_000,
      );
      expect(ips(r)).toEqual(['127.0.0.11', '127.0.0.12']);
      const node = await dig(p, `${c.peerId}.node.smac`);
      expect([node.status, node.answers]).toEqual(['NOERROR', []]);
    }
    expect((await dig(a, 'web.service.us-west.smac')).answers).toEqual([]);
  }, 150_000);
});
