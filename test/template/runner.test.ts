// The runner's loop against a fake agent whose watch stream the test feeds: key changes
// re-render from the stream's values, a change under _sys/ fetches the used results again, a
// member's death (seen only by polling the member list) does too, and stop() ends the loop.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { MembersReply, WatchEvent } from '../../src/client/client.js';
import { TemplateRenderer } from '../../src/template/renderer.js';
import { type TemplateAgent, TemplateRunner } from '../../src/template/runner.js';
import { waitFor } from '../support/three-agents.js';

/** An async iterable the test pushes events into. */
function feed() {
  const queue: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const stream = {
    push(ev: WatchEvent) {
      queue.push(ev);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const ev = queue.shift();
        if (ev !== undefined) {
          yield ev;
          continue;
        }
        if (closed) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
  return stream;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'smac-runner-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('re-renders on key changes, on _sys/ changes (fetching again) and on member deaths', async () => {
  const stream = feed();
  let endpoints = [{ id: 'w1', address: '10.0.0.1', port: 80 }];
  let members = [{ id: 'n1', status: 'alive' }];
  let serviceFetches = 0;
  const agent: TemplateAgent = {
    service: () => {
      serviceFetches++;
      return Promise.resolve({ endpoints });
    },
    services: () => Promise.resolve({ services: [] }),
    members: () => Promise.resolve({ members, transitions: [] } as unknown as MembersReply),
    load: () => Promise.resolve({}),
    watch: () => stream,
  };
  const out = join(dir, 'out');
  const runner = new TemplateRunner({
    agent,
    renderer: new TemplateRenderer('{{key "mode"}}|{{#each (service "web")}}{{id}} {{/each}}', 't'),
    out,
    waitMs: 10,
    pollMs: 20,
    log: () => undefined,
  });
  const running = runner.run();
  const file = () =>
    new Promise<string>((resolve) => {
      resolve(readFileSync(out, 'utf8'));
    });
  stream.push({ kind: 'snapshot', cursor: '1', objects: [], clock: {} });
  await waitFor(file, (t) => t === '|w1 ', 'the first render');

  stream.push({
    kind: 'change',
    cursor: '2',
    type: 'lww-register',
    key: 'mode',
    value: 'blue',
  });
  await waitFor(file, (t) => t === 'blue|w1 ', 'the key change');

  const before = serviceFetches;
  endpoints = [...endpoints, { id: 'w2', address: '10.0.0.2', port: 80 }];
  stream.push({
    kind: 'change',
    cursor: '3',
    type: 'rw-set',
    key: '_sys/services/web',
    value: [],
  });
  await waitFor(file, (t) => t === 'blue|w1 w2 ', 'the service change');
  expect(serviceFetches).toBeGreaterThan(before);

  // No write at all: only the member list says n2's endpoint is gone.
  endpoints = endpoints.slice(0, 1);
  members = [{ id: 'n1', status: 'dead' }];
  await waitFor(file, (t) => t === 'blue|w1 ', 'the render after a member status change');

  runner.stop();
  await running;
});
