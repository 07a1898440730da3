// The DNS listener's counters are on the agent's /metrics (docs/dns.md "Metrics"): a real agent
// (runAgent) with --dns on a free loopback port, queried over UDP and TCP with dns-packet, then
// scraped through the REST API; each counter moves by what was sent.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAgent, type RunningAgent } from '../../src/agent/run.js';
import { SmacClient } from '../../src/client/client.js';
import { quiet, testConfig } from '../agent/helpers.js';
import { tcpAsk, udpAsk } from './ask.js';
import { query } from './fake-source.js';

let running: RunningAgent | undefined;
afterEach(async () => {
  await running?.stop();
  if (running) rmSync(running.agent.config.dataDir, { recursive: true, force: true });
  running = undefined;
});

/** The value of one sample in an exposition text (`name{labels}`, labels as printed). */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('DNS counters on /metrics', () => {
  it('counts queries by transport, responses by rcode, malformed and truncated packets', async () => {
    const config = testConfig({ dnsAddress: '127.0.0.1:0', apiHost: '' });
    running = await runAgent(config, { logger: quiet });
    const client = new SmacClient({ socketPath: join(config.dataDir, 'smac.sock') });
    try {
      // A service with more A records than fit in 512 bytes, so that a UDP answer is cut.
      for (let i = 0; i < 60; i++)
        await client.register('big', `b${i}`, { address: `10.1.0.${i + 1}`, port: 1000 + i });
      const port = running.dns!.address.port;
      const before = await client.metrics();
      for (const series of [
        'smac_dns_queries_total{transport="udp"}',
        'smac_dns_queries_total{transport="tcp"}',
        'smac_dns_responses_total{rcode="NOERROR"}',
        'smac_dns_responses_total{rcode="NXDOMAIN"}',
        'smac_dns_malformed_packets_total',
        'smac_dns_truncated_total',
      ])
        expect(sample(before, series), series).toBe(0);

      expect(await udpAsk(port, query('nothing.service.smac'))).toBeDefined(); // NXDOMAIN
      expect(await udpAsk(port, query('big.service.smac'))).toBeDefined(); // NOERROR, truncated
      expect(await tcpAsk(port, [query('big.service.smac')])).toHaveLength(1); // NOERROR, whole
      // Twelve bytes of header that say "query" and then nothing that decodes: FORMERR.
      const malformed = Buffer.concat([query('x.service.smac').subarray(0, 12), Buffer.from([0xff])]);
      expect(await udpAsk(port, malformed)).toBeDefined();

      const after = await client.metrics();
      expect(sample(after, 'smac_dns_queries_total{transport="udp"}')).toBe(3);
      expect(sample(after, 'smac_dns_queries_total{transport="tcp"}')).toBe(1);
      expect(sample(after, 'smac_dns_responses_total{rcode="NXDOMAIN"}')).toBe(1);
      expect(sample(after, 'smac_dns_responses_total{rcode="NOERROR"}')).toBe(2);
      expect(sample(after, 'smac_dns_responses_total{rcode="FORMERR"}')).toBe(1);
      expect(sample(after, 'smac_dns_malformed_packets_total')).toBe(1);
      expect(sample(after, 'smac_dns_truncated_total')).toBe(1);
      expect(after).toMatch(/# TYPE smac_dns_queries_total counter/);
    } finally {
      client.close();
    }
  });

  it('are absent when the agent serves no DNS', async () => {
    const config = testConfig({ apiHost: '' });
    running = await runAgent(config, { logger: quiet });
    const client = new SmacClient({ socketPath: join(config.dataDir, 'smac.sock') });
    try {
      expect(await client.metrics()).not.toMatch(/smac_dns_/);
    } finally {
      client.close();
    }
  });
});
