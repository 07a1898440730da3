/**
 * deploy/: the compose file and the Kubernetes manifests parse, and hold together with the
 * image and the CLI: every SMAC_* variable is one the agent or the CLI reads, and the values
 * each agent gets make a valid configuration; every command names a real subcommand and flag
 * (from `smac <command> --help` of dist/); the agents keep data and socket in separate
 * volumes, applications mount the socket's directory only, with the socket's group; the
 * probes run the image's CLI; the region comes from the node's label; the key from a secret.
 *
 * YAML is read with the `yaml` package, which is in node_modules as a dependency of
 * @fastify/swagger (not a direct dependency of this project); without it these tests skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBuildFiles } from '../../scripts/docker/dockerfile.js';
import { loadAgentConfig } from '../../src/cli/config-sources.js';
import { BIN, ROOT } from '../support/agent-process.js';
import { isKnownSmacEnv } from './known-env.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const yaml = await import('yaml').catch(() => undefined);
const read = (path: string): Doc[] =>
  yaml!.parseAllDocuments(readFileSync(join(ROOT, path), 'utf8'), { merge: true }).map((d) => {
    expect(d.errors, path).toEqual([]);
    return d.toJS({ maxAliasCount: 100 }) as Doc;
  });

const { stages } = readBuildFiles(ROOT);
const runtime = stages.at(-1)!;
const imageEntry = runtime.steps.findLast((s) => s.op === 'ENTRYPOINT')!.argv!;
const imageUser = runtime.steps.findLast((s) => s.op === 'USER')!.args;
const imageEnv: Record<string, string> = Object.assign(
  {},
  ...runtime.steps.filter((s) => s.op === 'ENV').map((s) => s.env),
);

/** The flags `smac [command] --help` lists (dist/ is built by `npm test` before vitest). */
function helpFlags(command: string[]): Set<string> {
  const r = spawnSync(process.execPath, [BIN, ...command, '--help'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return new Set(r.stdout.match(/--[a-z][a-z-]*/g) ?? []);
}

/** Checks a command line run on the image (argv after `node /app/dist/cli/main.js`). */
function checkCli(args: string[]): void {
  const command = args.filter((a) => !a.startsWith('-')).slice(0, 1);
  const known = new Set([...helpFlags(command), ...helpFlags([])]);
  for (const flag of args.filter((a) => a.startsWith('--'))) expect(known, args.join(' ')).toContain(flag);
}

function checkEnv(env: Record<string, string>, where: string): void {
  for (const name of Object.keys(env).filter((k) => k.startsWith('SMAC_'))) {
    expect(isKnownSmacEnv(name), `${where}: ${name}`).toBe(true);
  }
}

describe.skipIf(yaml === undefined)('deploy/docker-compose.yml', () => {
  const [compose] = read('deploy/docker-compose.yml') as [Doc];
  const services = compose.services as Record<string, Doc>;
  const agents = Object.entries(services).filter(([name]) => name.startsWith('agent-'));

  it('runs three agents, each in its own network, joined by join addresses to the others', () => {
    expect(agents).toHaveLength(3);
    const regions = new Set(agents.map(([, s]) => s.environment.SMAC_REGION as string));
    expect(regions.size).toBe(3);
    const own = agents.map(([, s]) => (s.networks as string[]).filter((n) => n !== 'wan'));
    expect(new Set(own.flat()).size).toBe(3);
    for (const [name, s] of agents) {
      expect(s.networks).toContain('wan');
      const joins = (s.environment.SMAC_JOIN as string).split(',');
      const others = agents.map(([n]) => n).filter((n) => n !== name);
      expect(joins.sort()).toEqual(
        others.map((n) => `/dns4/${services[n]!.hostname as string}/tcp/7946`).sort(),
      );
    }
  });

  it('builds the image from the repository, with an init, and gives the agents time to leave', () => {
    for (const [, s] of agents) {
      expect(existsSync(join(ROOT, 'deploy', s.build as string, 'Dockerfile'))).toBe(true);
      expect(s.init).toBe(true);
      expect(Number(/^(\d+)s$/.exec(s.stop_grace_period as string)?.[1])).toBeGreaterThanOrEqual(10);
    }
  });

  it('gives each agent a valid configuration, its key from a secret file', () => {
    for (const [name, s] of agents) {
      const env = { ...imageEnv, ...(s.environment as Record<string, string>) };
      checkEnv(env, name);
      const secret = (s.secrets as string[])[0]!;
      expect(env.SMAC_CLUSTER_KEY_FILE).toBe(`/run/secrets/${secret}`);
      expect(compose.secrets[secret].file).toBe('./cluster.key');
      const config = loadAgentConfig({}, env, undefined);
      expect(config.clusterKeyFile).toBe(env.SMAC_CLUSTER_KEY_FILE);
      expect(config.join).toHaveLength(2);
    }
  });

  it('keeps data and socket in separate volumes; the app mounts only the socket, with its group', () => {
    const mounts = (s: Doc): Record<string, string> =>
      Object.fromEntries(
        (s.volumes as string[]).map((v) => v.split(':').slice(0, 2).reverse() as [string, string]),
      );
    const sockets = new Set<string>();
    for (const [, s] of agents) {
      const m = mounts(s);
      expect(m[imageEnv.SMAC_DATA_DIR!]).toMatch(/-data$/);
      expect(m['/run/smac']).toMatch(/-sock$/);
      sockets.add(m['/run/smac']!);
    }
    const app = services.app!;
    const m = mounts(app);
    expect(sockets).toContain(m['/run/smac']);
    expect(Object.values(m).filter((v) => v.endsWith('-data'))).toEqual([]);
    expect(app.group_add).toEqual([imageUser.split(':')[1]]);
    expect(app.user.split(':')[0]).not.toBe(imageUser.split(':')[0]);
    expect(existsSync(join(ROOT, 'deploy', m['/app/examples/discovery-app']!, 'index.js'))).toBe(true);
    checkEnv(app.environment as Record<string, string>, 'app');
  });
});

describe.skipIf(yaml === undefined)('deploy/k8s', () => {
  const docs = read('deploy/k8s/smac-daemonset.yaml');
  const ds = docs.find((d) => d.kind === 'DaemonSet')!;
  const pod = ds.spec.template.spec as Doc;
  const agent = (pod.containers as Doc[]).find((c) => c.name === 'agent')!;
  const [app] = read('deploy/k8s/smac-app-pod.yaml') as [Doc];
  const volume = (spec: Doc, name: string): Doc => (spec.volumes as Doc[]).find((v) => v.name === name)!;
  const mountOf = (c: Doc, path: string): Doc | undefined =>
    (c.volumeMounts as Doc[]).find((m) => m.mountPath === path);

  it('runs the agent as the image user, its socket directory a hostPath, its key from a Secret', () => {
    expect(`${String(pod.securityContext.runAsUser)}:${String(pod.securityContext.runAsGroup)}`).toBe(
      imageUser,
    );
    expect(volume(pod, mountOf(agent, '/run/smac')!.name as string).hostPath.path).toBe('/run/smac');
    expect(volume(pod, mountOf(agent, imageEnv.SMAC_DATA_DIR!)!.name as string).hostPath).toBeDefined();
    expect(volume(pod, 'cluster-key-secret').secret.secretName).toBe('smac-cluster-key');
    const env: Record<string, Doc> = Object.fromEntries(
      (agent.env as Doc[]).map((e) => [e.name as string, e]),
    );
    expect(env.SMAC_CLUSTER_KEY_FILE!.value).toMatch(
      new RegExp(`^${mountOf(agent, '/key')!.mountPath as string}/`),
    );
    // The init container copies the key where only the agent's user can read it (0600).
    const init = (pod.initContainers as Doc[])[0]!;
    expect((init.command as string[]).join(' ')).toContain(
      `-m 0600 /secret/cluster.key ${env.SMAC_CLUSTER_KEY_FILE!.value as string}`,
    );
    expect(env.SMAC_REGION!.valueFrom.fieldRef.fieldPath).toBe(
      "metadata.labels['topology.kubernetes.io/region']",
    );
  });

  it('gives the agent a valid configuration', () => {
    const env: Record<string, string> = { ...imageEnv };
    for (const e of agent.env as Doc[])
      env[e.name as string] = (e.value as string | undefined) ?? 'from-the-api';
    env.SMAC_TAGS = env.SMAC_TAGS!.replace('$(NODE_NAME)', 'node-1');
    checkEnv(env, 'daemonset');
    expect(loadAgentConfig({}, env, undefined).region).toBe('from-the-api');
    checkCli(agent.args as string[]);
  });

  it('probes liveness and readiness with the image CLI over the socket', () => {
    const live = agent.livenessProbe.exec.command as string[];
    const ready = agent.readinessProbe.exec.command as string[];
    expect(live).toEqual([...imageEntry, 'health']);
    expect(ready).toEqual([...imageEntry, 'health', '--ready']);
    checkCli(ready.slice(imageEntry.length));
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(10);
  });

  it('has a sample application pod that reads the socket and nothing else of the agent', () => {
    const spec = app.spec as Doc;
    const c = (spec.containers as Doc[])[0]!;
    expect(spec.securityContext.supplementalGroups).toContain(Number(imageUser.split(':')[1]));
    expect(spec.securityContext.runAsUser).not.toBe(pod.securityContext.runAsUser);
    const paths = (spec.volumes as Doc[]).filter((v) => v.hostPath).map((v) => v.hostPath.path as string);
    expect(paths).toEqual(['/run/smac']);
    expect(mountOf(c, '/run/smac')).toBeDefined();
    const env = Object.fromEntries((c.env as Doc[]).map((e) => [e.name as string, e.value as string]));
    expect(env.SMAC_SOCKET).toBe(imageEnv.SMAC_API_SOCKET);
    checkEnv(env, 'app pod');
    expect(existsSync(join(ROOT, (c.command as string[])[1]!.replace(/^\/app\//, '')))).toBe(true);
  });
});
