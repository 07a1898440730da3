// Prometheus's `consul_sd_configs`, read by a real scraper that is not part of this project:
// Debian's vmagent (VictoriaMetrics 1.79, package victoria-metrics), whose Consul discovery
// reads /v1/agent/self, /v1/catalog/services and /v1/health/service/<name> with blocking
// queries. (Debian's prometheus, 2.42 in bookworm and 2.53 in trixie, is built without Consul
// discovery, docs/consul.md.)
// It sends the agent's API token (the `token:` of consul_sd_configs), which the listener requires.
// Against three agent processes: the endpoints registered on two agents become scrape targets
// through the third agent's listener, with the node and health labels; an endpoint whose node
// is SIGKILLed stops being a target (the usual keep-passing relabeling).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, ensureExternal } from '../support/external.js';
import { type ConsulCluster, eventually, startConsulCluster } from './cluster.js';

interface Target {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
}

/** A port that was free a moment ago (vmagent takes an address, not a listening socket). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describeWith(
  [ensureExternal('vmagent', ['victoria-metrics'])],
  'vmagent consul_sd_configs against three agents',
  () => {
    let cluster: ConsulCluster;
    let vmagent: ChildProcess | undefined;
    let sink: Server | undefined;
    let dir: string;
    let targetsUrl: string;

    beforeAll(async () => {
      cluster = await startConsulCluster();
      const { a, b } = cluster;
      await a.client.register('web', 'web-a', { address: '127.0.0.1', port: 9101, tags: ['v1'] });
      await b.client.register('web', 'web-b', { address: '127.0.0.2', port: 9102, tags: ['v2'] });
      // Where vmagent sends what it scraped: accepted and dropped.
      sink = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((r) => sink?.listen(0, '127.0.0.1', r));
      dir = mkdtempSync(join(tmpdir(), 'smac-vmagent-'));
      const config = join(dir, 'scrape.yml');
      writeFileSync(
        config,
        [
          'scrape_configs:',
          '  - job_name: smac',
          '    scrape_interval: 1s',
          '    consul_sd_configs:',
          `      - server: 127.0.0.1:${cluster.port}`,
          `        token: ${cluster.token}`,
          '        services: [web]',
          '    relabel_configs:',
          '      - source_labels: [__meta_consul_health]',
          '        regex: passing',
          '        action: keep',
          '',
        ].join('\n'),
      );
      const http = `127.0.0.1:${await freePort()}`;
      targetsUrl = `http://${http}/api/v1/targets`;
      vmagent = spawn(
        'vmagent',
        [
          `-promscrape.config=${config}`,
          '-promscrape.consulSDCheckInterval=1s',
          `-httpListenAddr=${http}`,
          `-remoteWrite.url=http://127.0.0.1:${(sink.address() as AddressInfo).port}/api/v1/write`,
          `-remoteWrite.tmpDataPath=${join(dir, 'queue')}`,
          '-loggerLevel=ERROR',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    }, 120_000);

    afterAll(async () => {
      vmagent?.kill('SIGKILL');
      await new Promise<void>((r) => {
        if (sink)
          sink.close(() => {
            r();
          });
        else r();
      });
      (cluster as ConsulCluster | undefined)?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const targets = async (): Promise<Target[]> => {
      const r = await fetch(targetsUrl);
      const body = (await r.json()) as { data: { activeTargets: Target[] } };
      return body.data.activeTargets;
    };
    const instances = (ts: Target[]): string[] => ts.map((t) => t.labels.instance ?? '').sort();

    it('scrapes the endpoints registered on any agent, labelled with their node and health', async () => {
      const ts = await eventually('both endpoints as scrape targets', targets, (x) => x.length === 2, 60_000);
      expect(instances(ts)).toEqual(['127.0.0.1:9101', '127.0.0.2:9102']);
      const b = ts.find((t) => t.labels.instance === '127.0.0.2:9102')?.discoveredLabels;
      expect(b).toMatchObject({
        __meta_consul_service: 'web',
        __meta_consul_service_id: 'web-b',
        __meta_consul_node: cluster.b.peerId,
        __meta_consul_dc: 'eu',
        __meta_consul_health: 'passing',
        __meta_consul_tags: ',v2,',
      });
    });

    it('stops scraping an endpoint once its node is SIGKILLed, and keeps the others', async () => {
      cluster.b.proc.process.kill('SIGKILL');
      const ts = await eventually('web-b gone from the targets', targets, (x) => x.length === 1, 60_000);
      expect(instances(ts)).toEqual(['127.0.0.1:9101']);
    });
  },
);
