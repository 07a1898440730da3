// Templates rendered against a fake agent: helpers, the fetch-what-is-missing passes, atomic
// writes, the command after a change, and clear errors for templates that cannot be used.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MembersReply, WatchEvent } from '../../src/client/client.js';
import { writeAtomically } from '../../src/template/output.js';
import { TemplateError, TemplateRenderer } from '../../src/template/renderer.js';
import { type TemplateAgent, TemplateRunner } from '../../src/template/runner.js';

const ep = (id: string, address: string, port: number, extra: Record<string, unknown> = {}) => ({
  service: 'web',
  id,
  node: 'n1',
  address,
  port,
  tags: [] as string[],
  meta: {},
  region: 'eu',
  nodeStatus: 'alive',
  check: null,
  healthy: true,
  ...extra,
});

function fakeAgent(objects: { type: string; key: string; value: unknown }[] = []) {
  const calls: string[] = [];
  const state = {
    endpoints: [ep('w1', '10.0.0.1', 80, { tags: ['v2'] }), ep('w2', '10.0.0.2', 81, { region: 'us' })],
    members: [
      { id: 'n1', status: 'alive', incarnation: 0, region: 'eu', tags: {}, addresses: [] },
      { id: 'n2', status: 'dead', incarnation: 0, region: 'us', tags: {}, addresses: [] },
    ],
  };
  const agent: TemplateAgent = {
    service: (name, o) => {
      calls.push(`service ${name} ${o?.all === true}`);
      return Promise.resolve({ service: name, endpoints: name === 'web' ? state.endpoints : [] });
    },
    services: () => {
      calls.push('services');
      return Promise.resolve({ services: [{ name: 'web', endpoints: 2, healthy: 2 }] });
    },
    members: () => {
      calls.push('members');
      return Promise.resolve({ members: state.members, transitions: [] } as unknown as MembersReply);
    },
    load: (metric) => {
      calls.push(`load ${metric}`);
      return Promise.resolve({ metric, counter: { sum: 6 }, gauge: null });
    },
    watch: () => {
      const ev = { kind: 'snapshot', cursor: 'c', objects, clock: {} } as WatchEvent;
      return Object.assign(
        (async function* () {
          yield await Promise.resolve(ev);
        })(),
        { close: () => undefined },
      );
    },
  };
  return { agent, calls, state };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'smac-template-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function renderOnce(
  source: string,
  objects: { type: string; key: string; value: unknown }[] = [],
  exec?: string,
) {
  const { agent, calls } = fakeAgent(objects);
  const out = join(dir, 'out.conf');
  const runner = new TemplateRunner({
    agent,
    renderer: new TemplateRenderer(source, 'test.tmpl'),
    out,
    ...(exec !== undefined ? { exec } : {}),
    log: () => undefined,
  });
  const r = await runner.once();
  return { text: readFileSync(out, 'utf8'), calls, runner, written: r.written, out };
}

describe('templates', () => {
  it('lists the passing endpoints of a service, filtered by region and tag', async () => {
    const r = await renderOnce(
      '{{#each (service "web")}}{{address}}:{{port}};{{/each}}|{{#each (service "web" region="US")}}{{id}}{{/each}}|{{#each (service "web" tag="v2")}}{{id}}{{/each}}',
    );
    expect(r.text).toBe('10.0.0.1:80;10.0.0.2:81;|w2|w1');
    // One fetch serves all three uses.
    expect(r.calls).toEqual(['service web false']);
  });

  it('reads services, members, load and keys', async () => {
    const r = await renderOnce(
      [
        '{{#each (services)}}{{name}}={{healthy}}{{/each}}',
        '{{#each (members status="alive")}}{{id}}/{{region}}{{/each}}',
        '{{#with (load "conns")}}{{counter.sum}}{{/with}}',
        '{{key "app/mode"}} {{key "app/n" type="pn-counter"}} {{default (key "nope") "none"}}',
        '{{#each (keys "app/")}}{{key}}:{{type}};{{/each}}',
        '{{json (key "app/cfg")}} {{join (key "app/list") "+"}}',
        '{{#if (eq (key "app/mode") "blue")}}is-blue{{/if}}',
      ].join('\n'),
      [
        { type: 'lww-register', key: 'app/mode', value: 'blue' },
        { type: 'pn-counter', key: 'app/n', value: 3 },
        { type: 'lww-register', key: 'app/cfg', value: { a: 1 } },
        { type: 'aw-set', key: 'app/list', value: ['x', 'y'] },
      ],
    );
    expect(r.text.split('\n')).toEqual([
      'web=2',
      'n1/eu',
      '6',
      'blue 3 none',
      'app/cfg:lww-register;app/list:aw-set;app/mode:lww-register;app/n:pn-counter;',
      '{"a":1} x+y',
      'is-blue',
    ]);
  });

  it('does not HTML-escape (config files, not web pages)', async () => {
    const r = await renderOnce('{{key "k"}}', [{ type: 'lww-register', key: 'k', value: 'a<b & "c"' }]);
    expect(r.text).toBe('a<b & "c"');
  });

  it('a syntax error or a missing helper is a TemplateError naming the template', async () => {
    expect(() => new TemplateRenderer('{{#each (service "web")}}', 'in.tmpl')).toThrow(TemplateError);
    expect(() => new TemplateRenderer('{{#each (service "web")}}', 'in.tmpl')).toThrow(
      /template in\.tmpl: Parse error/,
    );
    await expect(renderOnce('{{nosuch "x"}}')).rejects.toThrow(/Missing helper: "nosuch"/);
    await expect(renderOnce('{{#each (service)}}{{/each}}')).rejects.toThrow(
      /the service helper needs a name/,
    );
  });

  it('runs the command after a change only, and writes atomically (no temporary file left)', async () => {
    const marker = join(dir, 'ran');
    const first = await renderOnce('x', [], `echo run >> ${marker}`);
    expect([first.written, first.runner.lastExecCode]).toEqual([true, 0]);
    const second = await renderOnce('x', [], `echo run >> ${marker}`);
    expect(second.written).toBe(false);
    expect(readFileSync(marker, 'utf8')).toBe('run\n');
    expect(readdirSync(dir).sort()).toEqual(['out.conf', 'ran']);
  });

  it('keeps the mode of the file it replaces', () => {
    const f = join(dir, 'f');
    writeFileSync(f, 'old');
    chmodSync(f, 0o600);
    expect(writeAtomically(f, 'new')).toBe(true);
    expect([readFileSync(f, 'utf8'), statSync(f).mode & 0o777]).toEqual(['new', 0o600]);
    expect(writeAtomically(f, 'new')).toBe(false);
  });
});
