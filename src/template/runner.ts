/**
 * `smac template`'s loop (docs/template.md): follows the agent's watch stream (every key, so
 * that `key` and `keys` read the replica's objects without a request each, and so that changes
 * under `_sys/` tell when services, checks or load changed), and polls the member list, since a
 * node's death is the failure detector's verdict, not a write, and so never shows in the watch.
 * A change schedules one render; changes within `waitMs` of it are coalesced into it. A render
 * fetches again every result the template used, writes the file atomically when its text
 * changed, then runs the command. One render runs at a time.
 */
import type { MembersReply, WatchEvent } from '../client/client.js';
import type { WatchOptions } from '../client/watch.js';
import { runCommand, writeAtomically } from './output.js';
import {
  type Dependency,
  dependencyId,
  type KeyObject,
  TemplateError,
  type TemplateRenderer,
} from './renderer.js';

/** What the runner asks of the agent (SmacClient satisfies it). */
export interface TemplateAgent {
  service(name: string, options?: { all?: boolean }): Promise<unknown>;
  services(): Promise<unknown>;
  members(): Promise<MembersReply>;
  load(metric: string): Promise<unknown>;
  watch(options?: WatchOptions): AsyncIterable<WatchEvent> & { close(): void };
}

export interface TemplateRunnerOptions {
  readonly agent: TemplateAgent;
  readonly renderer: TemplateRenderer;
  readonly out: string;
  /** Run after each change of the file (`sh -c`). */
  readonly exec?: string;
  readonly execTimeoutMs?: number;
  /** Changes within this long of the first are rendered together. */
  readonly waitMs?: number;
  /** How often the member list is read to notice deaths and recoveries. */
  readonly pollMs?: number;
  /** Messages for the operator (stderr). */
  readonly log: (line: string) => void;
}

/** Renders needing more passes than this are refused (a template that never settles). */
const MAX_PASSES = 10;
const DEFAULT_WAIT_MS = 250;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

export class TemplateRunner {
  private readonly results = new Map<string, unknown>();
  private readonly deps = new Map<string, Dependency>();
  private readonly objects = new Map<string, KeyObject[]>();
  private memberSignature = '';
  private timer: NodeJS.Timeout | undefined;
  private rendering: Promise<void> | undefined;
  private again = false;
  private refetch = false;
  private watch: (AsyncIterable<WatchEvent> & { close(): void }) | undefined;
  private poller: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last exec's exit code (undefined when none ran). */
  lastExecCode: number | undefined;

  constructor(private readonly options: TemplateRunnerOptions) {}

  /**
   * Renders once: reads the objects (a watch's snapshot), fetches what the template uses,
   * writes, runs the command. Throws TemplateError for a template that cannot render, and
   * the client's errors when the agent cannot be reached.
   */
  async once(): Promise<{ written: boolean }> {
    const watch = this.options.agent.watch({ prefix: '' });
    try {
      for await (const ev of watch) {
        this.apply(ev);
        if (ev.kind === 'snapshot') break;
      }
    } finally {
      watch.close();
    }
    return this.renderNow(true);
  }

  /**
   * Renders, then keeps the file current until `stop()`. The first render's errors are thrown
   * (as by `once`); later ones are reported and the file is left as it was.
   */
  async run(): Promise<void> {
    // Fails fast (exit 3) when the agent is not there; later the watch reconnects by itself.
    await this.pollMembers(false, true);
    const watch = this.options.agent.watch({ prefix: '', reconnect: { maxDelayMs: 2_000 } });
    this.watch = watch;
    let first = true;
    try {
      for await (const ev of watch) {
        const touched = this.apply(ev);
        if (first) {
          first = false;
          await this.renderNow(true);
          this.poller = setInterval(() => {
            void this.pollMembers(true);
          }, this.options.pollMs ?? DEFAULT_POLL_MS);
          continue;
        }
        this.schedule(touched);
      }
    } finally {
      this.stop();
    }
    await this.rendering;
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    clearInterval(this.poller);
    clearTimeout(this.timer);
  }

  /** Applies a watch event to the objects; true when it touched the agent's own records. */
  private apply(ev: WatchEvent): boolean {
    if (ev.kind === 'snapshot') {
      const before = JSON.stringify([...this.objects]);
      this.objects.clear();
      for (const o of ev.objects) this.put({ key: o.key, type: o.type, value: o.value });
      return before !== JSON.stringify([...this.objects]);
    }
    const list = (this.objects.get(ev.key) ?? []).filter((o) => o.type !== ev.type);
    if (ev.deleted === true) {
      if (list.length === 0) this.objects.delete(ev.key);
      else this.objects.set(ev.key, list);
    } else this.put({ key: ev.key, type: ev.type, value: ev.value });
    return ev.key.startsWith('_sys/');
  }

  private put(o: KeyObject): void {
    const list = (this.objects.get(o.key) ?? []).filter((x) => x.type !== o.type);
    list.push(o);
    list.sort((a, b) => (a.type < b.type ? -1 : 1));
    this.objects.set(o.key, list);
  }

  private async pollMembers(schedule: boolean, throwing = false): Promise<void> {
    let reply: MembersReply;
    try {
      reply = await this.options.agent.members();
    } catch (e) {
      if (throwing) throw e;
      return; // An agent that is gone: the watch reconnects, the next poll tries again.
    }
    const signature = reply.members
      .map((m) => `${m.id}:${m.status}`)
      .sort()
      .join(',');
    if (signature !== this.memberSignature) {
      const changed = this.memberSignature !== '';
      this.memberSignature = signature;
      if (schedule && changed) this.schedule(true);
    }
  }

  /** Schedules a render (fetching the results again when `refetch`), coalescing changes. */
  private schedule(refetch: boolean): void {
    if (this.stopped) return;
    this.refetch ||= refetch;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.kick();
    }, this.options.waitMs ?? DEFAULT_WAIT_MS);
  }

  private async kick(): Promise<void> {
    if (this.rendering) {
      this.again = true;
      return;
    }
    this.rendering = (async () => {
      do {
        this.again = false;
        const refetch = this.refetch;
        this.refetch = false;
        try {
          await this.renderNow(refetch);
        } catch (e) {
          this.options.log(`render failed, the file is left as it was: ${(e as Error).message}`);
          // An agent that could not answer: try again at the next poll's pace.
          if (!(e instanceof TemplateError)) this.schedule(true);
        }
      } while (this.renderAgain());
    })();
    await this.rendering;
    this.rendering = undefined;
  }

  /** A method, so that the check after an await is not narrowed away. */
  private renderAgain(): boolean {
    return this.again && !this.stopped;
  }

  /** Fetches (all used results when `refetch`, else only missing ones), renders and writes. */
  private async renderNow(refetch: boolean): Promise<{ written: boolean }> {
    if (refetch) await this.fetch([...this.deps.values()]);
    for (let pass = 0; ; pass++) {
      const result = this.options.renderer.render({ results: this.results, objects: this.objects });
      if (result.missing.length === 0) return this.write(result.text);
      if (pass >= MAX_PASSES)
        throw new TemplateError(`the template still needed data after ${MAX_PASSES} passes`);
      await this.fetch(result.missing);
    }
  }

  private async fetch(deps: readonly Dependency[]): Promise<void> {
    const values = await Promise.all(deps.map((d) => this.fetchOne(d)));
    deps.forEach((d, i) => {
      const id = dependencyId(d);
      this.deps.set(id, d);
      this.results.set(id, values[i]);
    });
  }

  private async fetchOne(d: Dependency): Promise<unknown> {
    const agent = this.options.agent;
    switch (d.kind) {
      case 'service':
        return ((await agent.service(d.name, { all: d.all })) as { endpoints?: unknown }).endpoints ?? [];
      case 'services':
        return ((await agent.services()) as { services?: unknown }).services ?? [];
      case 'members':
        return (await agent.members()).members;
      case 'load':
        return agent.load(d.metric).catch((e: unknown) => {
          // A metric nobody reported is not an error for a template: it has no figures.
          if ((e as { status?: unknown }).status === 404) return { counter: null, gauge: null };
          throw e;
        });
    }
  }

  private async write(text: string): Promise<{ written: boolean }> {
    const written = writeAtomically(this.options.out, text);
    if (!written || this.options.exec === undefined) return { written };
    const code = await runCommand(this.options.exec, this.options.execTimeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    this.lastExecCode = code;
    if (code !== 0) this.options.log(`--exec exited with ${code}`);
    return { written };
  }
}
