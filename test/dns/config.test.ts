import { describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { ConfigError, resolveAgentConfig } from '../../src/agent/config.js';
import { startDns } from '../../src/dns/start.js';

describe('DNS settings', () => {
  it('are off by default, on with dns or with an address', () => {
    const d = resolveAgentConfig({});
    expect([d.dns, d.dnsAddress, d.dnsTtlSeconds]).toEqual([false, '127.0.0.1:8600', 5]);
    expect(resolveAgentConfig({ dns: true }).dns).toBe(true);
    expect(resolveAgentConfig({ dns: 'true' }).dns).toBe(true);
    const c = resolveAgentConfig({ dnsAddress: '[::1]:5353', dnsTtlSeconds: '0' });
    expect([c.dns, c.dnsAddress, c.dnsTtlSeconds]).toEqual([true, '[::1]:5353', 0]);
    expect(resolveAgentConfig({ dnsAddress: '127.0.0.1:53', dns: false }).dns).toBe(false);
  });

  it('refuses a bad address or TTL with a sentence naming the field', () => {
    expect(() => resolveAgentConfig({ dnsAddress: 'example.com:53' })).toThrow(ConfigError);
    expect(() => resolveAgentConfig({ dnsAddress: '127.0.0.1' })).toThrow(/dnsAddress must be host:port/);
    expect(() => resolveAgentConfig({ dnsTtlSeconds: -1 })).toThrow(
      /dnsTtlSeconds must be an integer from 0 to 86400/,
    );
  });
});

describe('starting the DNS listener', () => {
  it('is skipped when off, and an address in use is a configuration error', async () => {
    const agent = {
      services: { healthy: () => [], services: () => [] },
      members: () => ({ members: [] }),
    } as unknown as Agent;
    expect(await startDns(agent, resolveAgentConfig({}))).toBeUndefined();
    const first = await startDns(
      agent,
      resolveAgentConfig({ dnsAddress: '127.0.0.1:0', logLevel: 'silent' }),
    );
    expect(first).toBeDefined();
    try {
      const taken = resolveAgentConfig({ dnsAddress: first?.url ?? '', logLevel: 'silent' });
      await expect(startDns(agent, taken)).rejects.toThrow(
        /The DNS address 127\.0\.0\.1:\d+ cannot be used \(EADDRINUSE\)/,
      );
    } finally {
      await first?.close();
    }
  });
});
