/**
 * The Dockerfile and .dockerignore, read statically (there is no Docker engine here; the
 * replay, `npm run test:docker`, runs the steps): every path the image copies exists and is in
 * the build context, the runtime stage runs as a non-root user with a health check, an exec-form
 * entrypoint (so that SIGTERM reaches the agent), production dependencies only, and the
 * socket apart from the data volume; .dockerignore keeps state, secrets and node_modules out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  contextFiles,
  isIgnored,
  parseDockerfile,
  readBuildFiles,
  type Stage,
  type Step,
} from '../../scripts/docker/dockerfile.js';
import { isKnownSmacEnv } from './known-env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { stages, ignore } = readBuildFiles(ROOT);
const runtime = stages.at(-1)!;
const steps = (stage: Stage, op: string): Step[] => stage.steps.filter((s) => s.op === op);
const last = (stage: Stage, op: string): Step | undefined => steps(stage, op).at(-1);
const env: Record<string, string> = Object.assign({}, ...steps(runtime, 'ENV').map((s) => s.env));
const workdir = (stage: Stage): string => last(stage, 'WORKDIR')?.args ?? '/';

describe('Dockerfile', () => {
  it('builds in stages on the current Node LTS (24)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.base).toMatch(/^node:24[.-]/);
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const context = new Set(contextFiles(ROOT, ignore));
    for (const stage of stages) {
      for (const copy of steps(stage, 'COPY').filter((s) => s.flags.from === undefined)) {
        for (const src of copy.sources!) {
          expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
          expect(isIgnored(ignore, src), `${src} is not ignored`).toBe(false);
          const inside = [...context].some((f) => f === src || f.startsWith(src.replace(/\/$/, '') + '/'));
          expect(inside, `${src} is in the build context`).toBe(true);
        }
      }
    }
  });

  it('copies from earlier stages only what they copied in or built', () => {
    const outDir = (
      JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
        compilerOptions: { outDir: string };
      }
    ).compilerOptions.outDir;
    for (const [i, stage] of stages.entries()) {
      for (const copy of steps(stage, 'COPY').filter((s) => s.flags.from !== undefined)) {
        const from = stages.slice(0, i).find((s) => s.name === copy.flags.from);
        expect(from, `stage ${copy.flags.from} comes earlier`).toBeDefined();
        const copiedIn = steps(from!, 'COPY').flatMap((s) => s.sources!.map((x) => x.replace(/\/$/, '')));
        for (const src of copy.sources!) {
          const rel = src.replace(new RegExp(`^${workdir(from!)}/`), '');
          expect([...copiedIn, 'node_modules', outDir], `${src} is made by stage ${from!.name}`).toContain(
            rel,
          );
        }
      }
    }
  });

  it('ships production dependencies only, built once, nothing from the context in the runtime stage', () => {
    const build = stages[0]!;
    const runs = steps(build, 'RUN').map((s) => s.args);
    expect(runs.join(' && ')).toMatch(/npm ci\b/);
    expect(runs.join(' && ').match(/npm run build|tsc\b/g)).toHaveLength(1);
    // npm ci with scripts would also run `prepare` (a second build): scripts are off.
    expect(runs.filter((r) => /npm ci\b/.test(r)).every((r) => r.includes('--ignore-scripts'))).toBe(true);
    expect(runs.join(' && ')).toMatch(/npm prune --omit=dev/);
    expect(steps(runtime, 'COPY').every((s) => s.flags.from !== undefined)).toBe(true);
    expect(env.NODE_ENV).toBe('production');
  });

  it('runs as a non-root user', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('starts the agent in exec form, so that it is PID 1 and gets SIGTERM itself', () => {
    const entry = last(runtime, 'ENTRYPOINT')!;
    expect(entry.exec).toBe(true);
    expect(entry.argv![0]).toBe('node');
    // The agent bundle (scripts/build/agent-bundle.js), which the build stage's `npm run build` writes.
    expect(entry.argv![1]).toBe(`${workdir(runtime)}/dist/bundle/main.js`);
    expect(last(runtime, 'CMD')?.argv).toEqual(['agent']);
    expect(last(runtime, 'STOPSIGNAL')?.args ?? 'SIGTERM').toBe('SIGTERM');
  });

  it('checks its health with the agent CLI, and exposes the libp2p port', () => {
    const hc = last(runtime, 'HEALTHCHECK')!;
    expect(hc.exec).toBe(true);
    expect(hc.argv).toEqual([...last(runtime, 'ENTRYPOINT')!.argv!, 'health']);
    expect(hc.flags.timeout).toBeDefined();
    expect(steps(runtime, 'EXPOSE').map((s) => s.args)).toContain('7946/tcp');
    expect(env.SMAC_LISTEN).toMatch(/\/tcp\/7946$/);
  });

  it('keeps the socket in its own directory, apart from the data volume', () => {
    const volume = JSON.parse(last(runtime, 'VOLUME')!.args) as string[];
    expect(volume).toEqual([env.SMAC_DATA_DIR]);
    expect(env.SMAC_API_SOCKET).toMatch(/^\/run\/smac\/[^/]+\.sock$/);
    expect(env.SMAC_API_SOCKET!.startsWith(env.SMAC_DATA_DIR! + '/')).toBe(false);
    // The CLI (and so the HEALTHCHECK) finds the same socket.
    expect(env.SMAC_SOCKET).toBe(env.SMAC_API_SOCKET);
  });

  it('sets only SMAC_* variables the agent or the CLI reads', () => {
    for (const name of Object.keys(env).filter((k) => k.startsWith('SMAC_'))) {
      expect(isKnownSmacEnv(name), name).toBe(true);
    }
  });
});

describe('.dockerignore', () => {
  it('keeps node_modules, .git, state and secrets out of the context', () => {
    for (const path of [
      'node_modules',
      'node_modules/fastify/package.json',
      '.git',
      '.git/HEAD',
      '.smac-data',
      '.smac-data/identity.key',
      'examples/app/.smac-data/store.db',
      'cluster.key',
      'deploy/cluster.key',
      '.smac-data/api.token',
    ]) {
      expect(isIgnored(ignore, path), path).toBe(true);
    }
    const context = contextFiles(ROOT, ignore);
    expect(context.filter((f) => /(^|\/)(node_modules|\.git|\.smac-data)(\/|$)|\.key$/.test(f))).toEqual([]);
    expect(context).toContain('package-lock.json');
  });
});

describe('the Dockerfile reader', () => {
  it('joins continuations, skips comments, reads flags, exec and shell forms', () => {
    const [s] = parseDockerfile(
      'FROM node:24 AS b\n# note\nENV A=1 \\\n  B="x y"\nCOPY --chown=1:2 a b ./\nRUN echo hi \\\n  && true\n' +
        'HEALTHCHECK --interval=5s CMD ["x", "y"]\nCMD echo\n',
    );
    expect(s!.name).toBe('b');
    expect(s!.steps.map((x) => x.op)).toEqual(['ENV', 'COPY', 'RUN', 'HEALTHCHECK', 'CMD']);
    expect(s!.steps[0]!.env).toEqual({ A: '1', B: 'x y' });
    expect(s!.steps[1]).toMatchObject({ flags: { chown: '1:2' }, sources: ['a', 'b'], dest: './' });
    expect(s!.steps[2]!.argv).toEqual(['/bin/sh', '-c', 'echo hi    && true']);
    expect(s!.steps[3]).toMatchObject({ flags: { interval: '5s' }, argv: ['x', 'y'], exec: true });
    expect(() => parseDockerfile('FROM a\nADD x y\n')).toThrow(/ADD/);
  });
});
