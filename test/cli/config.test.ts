// Agent configuration: defaults, precedence (flags > SMAC_* env > config file), and clear
// errors for bad values — also through the real `smac` binary (exit code 2).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_AGENT_CONFIG, resolveAgentConfig } from '../../src/agent/config.js';
import { envName, loadAgentConfig } from '../../src/cli/config-sources.js';

const dir = mkdtempSync(join(tmpdir(), 'smac-config-'));

describe('agent configuration', () => {
  it('fills every default', () => {
    const c = resolveAgentConfig({});
    expect(c).toEqual({ ...DEFAULT_AGENT_CONFIG });
    expect(c.listen).toEqual(['/ip4/127.0.0.1/tcp/7946']);
  });

  it('names settings in the environment in upper snake case', () => {
    expect(envName('syncIntervalMs')).toBe('SMAC_SYNC_INTERVAL_MS');
    expect(envName('dataDir')).toBe('SMAC_DATA_DIR');
  });

  it('takes flags over the environment over the config file', () => {
    const file = join(dir, 'c.json');
    writeFileSync(
      file,
      JSON.stringify({ region: 'file', syncIntervalMs: 111, heartbeatIntervalMs: 222, mdns: true }),
    );
    const c = loadAgentConfig(
      { region: 'flag' },
      {
        SMAC_REGION: 'env',
        SMAC_SYNC_INTERVAL_MS: '333',
        SMAC_JOIN: '/ip4/10.0.0.1/tcp/1, /ip4/10.0.0.2/tcp/2',
      },
      file,
    );
    expect(c.region).toBe('flag');
    expect(c.syncIntervalMs).toBe(333);
    expect(c.heartbeatIntervalMs).toBe(222);
    expect(c.mdns).toBe(true);
    expect(c.divergedPeers).toBe('merge');
    expect(resolveAgentConfig({ divergedPeers: 'refuse' }).divergedPeers).toBe('refuse');
    expect(c.join).toEqual(['/ip4/10.0.0.1/tcp/1', '/ip4/10.0.0.2/tcp/2']);
  });

  it.each([
    [{ syncIntervalMs: -5 }, /syncIntervalMs must be an integer from 10/],
    [{ syncIntervalMs: 'soon' }, /syncIntervalMs must be an integer/],
    [{ listen: ['127.0.0.1:7946'] }, /is not a multiaddr; write it like \/ip4/],
    [{ storeSync: 'sometimes' }, /storeSync must be "normal" or "full"/],
    [{ divergedPeers: 'fork' }, /divergedPeers must be "merge" or "refuse"/],
    [{ logLevel: 'loud' }, /logLevel must be one of/],
    [{ mdns: 'yes please' }, /mdns must be true or false/],
    [{ colour: 'blue' }, /unknown setting "colour"/],
  ])('rejects %j with an actionable message', (input, message) => {
    expect(() => resolveAgentConfig(input as never)).toThrow(message);
    expect(() => resolveAgentConfig(input as never)).toThrow(ConfigError);
  });

  it('serves the API on the socket only, unless TCP is asked for', () => {
    expect(resolveAgentConfig({}).apiTcp).toBe(false);
    expect(resolveAgentConfig({ apiTcp: true })).toMatchObject({
      apiTcp: true,
      apiHost: '127.0.0.1',
      apiPort: 7947,
    });
    // Naming a port or host asks for TCP (the flags of earlier releases keep working).
    expect(resolveAgentConfig({ apiPort: '0' })).toMatchObject({ apiTcp: true, apiPort: 0 });
    expect(resolveAgentConfig({ apiHost: '::1' })).toMatchObject({ apiTcp: true, apiHost: '::1' });
    expect(resolveAgentConfig({ apiHost: '', apiPort: 1 }).apiTcp).toBe(false);
    expect(resolveAgentConfig({ apiTcp: 'false', apiPort: 1 }).apiTcp).toBe(false);
    expect(loadAgentConfig({}, { SMAC_API_PORT: '7950' }, undefined)).toMatchObject({
      apiTcp: true,
      apiPort: 7950,
    });
  });

  it('reads the socket mode in octal, the group and the allowed hosts', () => {
    expect(resolveAgentConfig({}).apiSocketMode).toBe(0o660);
    expect(resolveAgentConfig({ apiSocketMode: '0666' }).apiSocketMode).toBe(0o666);
    expect(resolveAgentConfig({ apiSocketMode: '600' }).apiSocketMode).toBe(0o600);
    expect(() => resolveAgentConfig({ apiSocketMode: '0999' })).toThrow(/apiSocketMode must be an octal/);
    expect(resolveAgentConfig({ apiSocketGroup: 'apps' }).apiSocketGroup).toBe('apps');
    expect(() => resolveAgentConfig({ apiSocketGroup: 'a b' })).toThrow(/apiSocketGroup must be/);
    expect(resolveAgentConfig({ apiAllowedHosts: 'Agent.Local, smac' }).apiAllowedHosts).toEqual([
      'agent.local',
      'smac',
    ]);
  });

  it('refuses a listen address off loopback without a cluster key, unless the cluster is meant to be open', () => {
    for (const listen of [
      '/ip4/0.0.0.0/tcp/7946',
      '/ip4/10.0.0.5/tcp/7946',
      '/ip6/::/tcp/7946',
      '/dns4/a.example/tcp/1',
    ]) {
      expect(() => resolveAgentConfig({ listen: [listen] }), listen).toThrow(/--open-cluster/);
      expect(() => resolveAgentConfig({ listen: [listen] }), listen).toThrow(ConfigError);
      expect(resolveAgentConfig({ listen: [listen], openCluster: true }).openCluster).toBe(true);
      expect(resolveAgentConfig({ listen: [listen], clusterKeyFile: 'k' }).listen).toEqual([listen]);
    }
    for (const listen of ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0', '/dns4/localhost/tcp/0'])
      expect(resolveAgentConfig({ listen: [listen] }).listen, listen).toEqual([listen]);
  });

  it('reports an unreadable or malformed config file', () => {
    expect(() => loadAgentConfig({}, {}, join(dir, 'missing.json'))).toThrow(/Cannot read the config file/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => loadAgentConfig({}, {}, bad)).toThrow(/is not valid JSON/);
  });
});

describe('the smac binary', () => {
  const bin = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

  it('exits 2 with the reason when a setting is invalid', () => {
    const r = spawnSync(process.execPath, [bin, 'agent', '--sync-interval-ms', 'abc'], {
      encoding: 'utf8',
      env: { ...process.env, SMAC_DATA_DIR: join(dir, 'data') },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/syncIntervalMs must be an integer/);
  });

  it('exits 2 when listening off loopback without a cluster key', () => {
    const r = spawnSync(process.execPath, [bin, 'agent', '--listen', '/ip4/0.0.0.0/tcp/0'], {
      encoding: 'utf8',
      env: { ...process.env, SMAC_DATA_DIR: join(dir, 'open') },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no cluster key.*--cluster-key.*--open-cluster/);
  });

  it('keygen writes a 0600 cluster key', async () => {
    const out = join(dir, 'cluster.key');
    const r = spawnSync(process.execPath, [bin, 'keygen', '--out', out], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const { statSync, readFileSync } = await import('node:fs');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}/);
  });
});
