/**
 * The dashboard in a real browser (docs/ui.md): Debian's Chromium, headless, driven by
 * playwright-core with the system binary (nothing downloads a browser), against three agent
 * processes. The browser logs in through the URL `smac ui` prints; the page lists three members;
 * a service registered on another agent appears; a SIGKILLed agent turns dead on the page
 * without a reload. A screenshot is saved under test-output/ui.png.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SmacClient } from '../../src/client/client.js';
import { FAST_MEMBERSHIP } from '../agent/helpers.js';
import { type AgentProcess, BIN, ROOT, startAgentProcess } from '../support/agent-process.js';
import { describeWith, ensureExternal } from '../support/external.js';

const browserBinary = ensureExternal('chromium', ['chromium']);
const CHROMIUM = '/usr/bin/chromium';
/** Fast detection as test/agent's, with more patience before a suspicion turns into death. */
const MEMBERSHIP = {
  ...FAST_MEMBERSHIP,
  suspicionMult: 6,
  suspicionMaxTimeoutMult: 3,
  suspicionFloorMs: 1_300,
};
/** Generous bounds for a loaded 2-core machine; the conditions usually hold within seconds. */
const APPEAR_MS = 60_000;

function agentArgs(region: string, join: string[]): string[] {
  return [
    '--region',
    region,
    '--sync-interval-ms',
    '300',
    '--heartbeat-interval-ms',
    '200',
    '--membership',
    JSON.stringify(MEMBERSHIP),
    ...join.flatMap((a) => ['--join', a]),
  ];
}

describeWith([browserBinary], 'the dashboard in headless Chromium', () => {
  const agents: AgentProcess[] = [];
  const clients: SmacClient[] = [];
  let browser: Browser | undefined;
  let page: Page;
  const requests = new Map<string, number>();

  beforeAll(async () => {
    const a = await startAgentProcess([
      '--ui',
      '--api-tcp',
      '--api-port',
      '0',
      ...agentArgs('eu-central', []),
    ]);
    agents.push(a);
    agents.push(await startAgentProcess(agentArgs('eu-central', a.ready.addresses)));
    agents.push(await startAgentProcess(agentArgs('us-west', a.ready.addresses)));
    for (const p of agents) clients.push(new SmacClient({ socketPath: p.socket }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // The test may run as root, where Chromium refuses its sandbox.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname.replace(/\/v1\/(services|load)\/.+$/, '/v1/$1/:name');
      requests.set(path, (requests.get(path) ?? 0) + 1);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const c of clients) c.close();
    for (const p of agents) p.kill();
    console.log('dashboard requests by path during the test:', Object.fromEntries(requests));
  });

  it('logs in with the URL `smac ui` prints and lists three members', async () => {
    // Every agent sees the three first (the page shows agent a's view).
    for (const c of clients) {
      await expect
        .poll(async () => (await c.members()).members.filter((x) => x.status === 'alive').length, {
          timeout: APPEAR_MS,
          interval: 100,
        })
        .toBe(3);
    }
    const [a] = agents;
    if (a === undefined) throw new Error('no agent');
    const cli = spawnSync(process.execPath, [BIN, '--socket', a.socket, '--json', 'ui'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(cli.status, cli.stderr).toBe(0);
    const { url } = JSON.parse(cli.stdout) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ui\/login\?code=/);

    // An agent without --ui says how to get one.
    const other = agents[1];
    if (other === undefined) throw new Error('no agent');
    const refused = spawnSync(process.execPath, [BIN, '--socket', other.socket, 'ui'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/does not serve the dashboard; start it with --ui --api-tcp/);

    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/ui');
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name.startsWith('smac_ui_'))).toMatchObject({
      httpOnly: true,
      sameSite: 'Strict',
    });
    // (Not waitForFunction: the page's Content-Security-Policy forbids the eval it uses.)
    await expect
      .poll(() => page.locator('#members tr[data-status="alive"]').count(), {
        timeout: APPEAR_MS,
        interval: 200,
      })
      .toBe(3);
    await page.waitForSelector('#live[data-state="live"]', { timeout: APPEAR_MS });
  }, 120_000);

  it('shows a service registered on another agent, without a reload', async () => {
    const [, b, c] = clients;
    if (b === undefined || c === undefined) throw new Error('no agents');
    // A reload would start a fresh page without this mark.
    await page.evaluate('window.notReloaded = true');
    await b.register('web', 'web-b', { address: '127.0.0.1', port: 8080 });
    await c.register('web', 'web-c', { address: '127.0.0.1', port: 8081 });
    await Promise.all([b.loadAdd('conns', 3), c.loadAdd('conns', 5)]);
    await page.waitForSelector('[data-service="web"] tr[data-endpoint="web-b"]', { timeout: APPEAR_MS });
    await page.waitForSelector('[data-service="web"] tr[data-endpoint="web-c"]', { timeout: APPEAR_MS });
    await page.waitForSelector('[data-metric="conns"]', { timeout: APPEAR_MS });
    expect(await page.evaluate('window.notReloaded')).toBe(true);
  }, 120_000);

  it('refreshes far less often than the cluster writes (no polling storm)', async () => {
    const [a] = clients;
    if (a === undefined) throw new Error('no agent');
    const before = requests.get('/v1/status') ?? 0;
    const WRITES = 100;
    const started = Date.now();
    await Promise.all(Array.from({ length: WRITES }, () => a.loadAdd('burst', 1)));
    await page
      .locator('[data-metric="burst"]', { hasText: `sum ${WRITES} ` })
      .waitFor({ timeout: APPEAR_MS });
    const elapsedMs = Date.now() - started;
    const refreshes = (requests.get('/v1/status') ?? 0) - before;
    console.log(
      `${WRITES} writes, each a change event on the page's watch, cost ${refreshes} refreshes in ${elapsedMs} ms`,
    );
    // One refresh per event would be WRITES. The page starts at most one refresh a second
    // (MIN_REFRESH_GAP_MS), however many events arrive: a bound that load only lowers.
    expect(refreshes).toBeLessThan(WRITES);
    expect(refreshes).toBeLessThanOrEqual(Math.ceil(elapsedMs / 1000) + 2);
  }, 120_000);

  it('turns a SIGKILLed member dead on the page without a reload', async () => {
    const victim = agents[2];
    if (victim === undefined) throw new Error('no agent');
    const id = victim.ready.peerId;
    await page.waitForSelector(`#members tr[data-member="${id}"][data-status="alive"]`);
    victim.process.kill('SIGKILL');
    await page.waitForSelector(`#members tr[data-member="${id}"][data-status="dead"]`, {
      timeout: APPEAR_MS,
    });
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    // Its endpoint stays listed, on a dead node, and is not healthy.
    await page.waitForSelector('tr[data-endpoint="web-c"][data-healthy="false"]', { timeout: APPEAR_MS });

    const out = join(ROOT, 'test-output');
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, 'ui.png'), fullPage: true });
  }, 120_000);
});
