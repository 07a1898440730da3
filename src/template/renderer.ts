/**
 * Renders a Handlebars template from the cluster's state (issue 10, "Config templates"; after
 * consul-template). Helpers are synchronous and the state comes from the agent's API, so a
 * render works like consul-template's: helpers read a cache of fetched results; a helper whose
 * result is not cached yet records what it needs and yields an empty value; the runner fetches
 * what was missing and renders again, until a render misses nothing. Which results a template
 * uses is thus learnt from the template itself, and only those are fetched again on a change.
 *
 * Helpers (hash arguments optional):
 *   (service "web" [all=true] [region="eu"] [tag="v2"])  endpoints, passing on live nodes by default
 *   (services)                                            names with endpoint counts
 *   (members [status="alive"] [region="eu"])              members with status, region, addresses
 *   (load "conns")                                        a load metric: counter and gauge figures
 *   (key "app/mode" [type="lww-register"])                an object's value (from the watch)
 *   (keys "app/")                                         objects under a prefix: {key, type, value}
 *   (json x)  (join list ", ")  (eq a b)  (default x y)
 */
import Handlebars from 'handlebars';

/** A result the template depends on: what to ask the agent for. */
export type Dependency =
  | { readonly kind: 'service'; readonly name: string; readonly all: boolean }
  | { readonly kind: 'services' }
  | { readonly kind: 'members' }
  | { readonly kind: 'load'; readonly metric: string };

export function dependencyId(d: Dependency): string {
  switch (d.kind) {
    case 'service':
      return `service\u0000${d.name}\u0000${d.all ? 'all' : 'healthy'}`;
    case 'load':
      return `load\u0000${d.metric}`;
    default:
      return d.kind;
  }
}

/** An object as the watch shows it. */
export interface KeyObject {
  readonly key: string;
  readonly type: string;
  readonly value: unknown;
}

/** What helpers read: fetched results by dependency id, and the objects the watch holds. */
export interface RenderState {
  readonly results: ReadonlyMap<string, unknown>;
  readonly objects: ReadonlyMap<string, readonly KeyObject[]>;
}

/** A template that cannot be used (syntax, unknown helper): the CLI exits 2 with it. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  readonly code = 'TEMPLATE_ERROR';
}

type Hash = Record<string, unknown>;
type HelperOptions = { hash?: Hash };

function hashOf(args: unknown[]): Hash {
  const last = args[args.length - 1] as HelperOptions | undefined;
  return last?.hash ?? {};
}

function str(v: unknown, helper: string): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new TemplateError(`the ${helper} helper needs a name, e.g. (${helper} "web")`);
  }
  return v;
}

function lower(v: unknown): string | undefined {
  return typeof v === 'string' ? v.toLowerCase() : undefined;
}

/**
 * Handlebars resolves `{{key}}` to the helper `key` even inside `{{#each (keys "app/")}}`,
 * where the object's own `key` field is meant: called without arguments, a helper gives the
 * field of the current context of its own name, if the context has one.
 */
function asFieldWithoutArgs(name: string, fn: (...args: unknown[]) => unknown) {
  return function (this: unknown, ...args: unknown[]): unknown {
    if (args.length === 1 && typeof this === 'object' && this !== null && Object.hasOwn(this, name)) {
      return (this as Hash)[name];
    }
    return fn(...args);
  };
}

/** What one render produced, and what it still needs fetched. */
export interface RenderResult {
  readonly text: string;
  readonly missing: readonly Dependency[];
}

export class TemplateRenderer {
  private readonly template: HandlebarsTemplateDelegate;
  private state: RenderState = { results: new Map(), objects: new Map() };
  private missing = new Map<string, Dependency>();

  /** Parses and compiles `source`; throws TemplateError naming `name` on a syntax error. */
  constructor(source: string, name: string) {
    const hbs = Handlebars.create();
    this.registerHelpers(hbs);
    try {
      hbs.parse(source);
      this.template = hbs.compile(source, { noEscape: true, strict: false });
    } catch (e) {
      throw new TemplateError(`template ${name}: ${(e as Error).message}`);
    }
  }

  /** Renders against `state`. Throws TemplateError for misuse (a missing helper, bad arguments). */
  render(state: RenderState): RenderResult {
    this.state = state;
    this.missing = new Map();
    let text: string;
    try {
      text = this.template({});
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      throw new TemplateError((e as Error).message);
    }
    return { text, missing: [...this.missing.values()] };
  }

  private need(d: Dependency): unknown {
    const id = dependencyId(d);
    if (this.state.results.has(id)) return this.state.results.get(id);
    this.missing.set(id, d);
    return undefined;
  }

  private registerHelpers(hbs: typeof Handlebars): void {
    const helper = (h: typeof Handlebars, name: string, fn: (...args: never[]) => unknown): void => {
      h.registerHelper(name, asFieldWithoutArgs(name, fn as (...args: unknown[]) => unknown));
    };
    helper(hbs, 'service', (...args: unknown[]) => {
      const hash = hashOf(args);
      const name = str(args[0], 'service');
      const all = hash.all === true;
      const found = this.need({ kind: 'service', name, all });
      const region = lower(hash.region);
      const tag = lower(hash.tag);
      const endpoints = Array.isArray(found) ? (found as Hash[]) : [];
      return endpoints.filter(
        (e) =>
          (region === undefined || lower(e.region) === region) &&
          (tag === undefined || (Array.isArray(e.tags) && e.tags.some((t) => lower(t) === tag))),
      );
    });
    helper(hbs, 'services', () => {
      const found = this.need({ kind: 'services' });
      return Array.isArray(found) ? (found as unknown[]) : [];
    });
    helper(hbs, 'members', (...args: unknown[]) => {
      const hash = hashOf(args);
      const found = this.need({ kind: 'members' });
      const status = lower(hash.status);
      const region = lower(hash.region);
      return (Array.isArray(found) ? (found as Hash[]) : []).filter(
        (m) =>
          (status === undefined || m.status === status) &&
          (region === undefined || lower(m.region) === region),
      );
    });
    helper(hbs, 'load', (...args: unknown[]) => {
      const found = this.need({ kind: 'load', metric: str(args[0], 'load') });
      return found ?? { counter: null, gauge: null };
    });
    helper(hbs, 'key', (...args: unknown[]) => {
      const type = hashOf(args).type;
      const objects = this.state.objects.get(str(args[0], 'key')) ?? [];
      const hit = type === undefined ? objects[0] : objects.find((o) => o.type === type);
      return hit?.value;
    });
    helper(hbs, 'keys', (...args: unknown[]) => {
      const prefix = typeof args[0] === 'string' ? args[0] : '';
      const out: KeyObject[] = [];
      for (const [key, objects] of this.state.objects) if (key.startsWith(prefix)) out.push(...objects);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.type < b.type ? -1 : 1));
    });
    helper(hbs, 'json', (v: unknown) => JSON.stringify(v ?? null));
    helper(hbs, 'join', (list: unknown, sep: unknown) =>
      Array.isArray(list) ? list.map(String).join(typeof sep === 'string' ? sep : ',') : '',
    );
    helper(hbs, 'eq', (a: unknown, b: unknown) => a === b);
    helper(hbs, 'default', (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v));
  }
}
