/**
 * Browser sessions of the dashboard (docs/ui.md). A browser cannot send the TCP listener's
 * bearer token on a page load or an EventSource, so `smac ui` (which holds the token, or uses
 * the socket) asks the agent for a one-time login code, and the browser trades that code for a
 * session cookie at `/ui/login`. A code is short-lived and works once; a session expires too.
 * Both live in memory only: a restarted agent forgets them, and `smac ui` makes a new one.
 *
 * Secrets are kept as SHA-256 digests, so a lookup's timing says nothing about the secret.
 * Time is injected (`now`), so expiry is tested without waiting.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface UiSessionOptions {
  /** Clock in ms (Date.now by default). */
  readonly now?: () => number;
  /** How long a login code can be used: long enough to paste a URL, short enough to be useless later. */
  readonly codeTtlMs?: number;
  /** How long a session cookie authorizes the dashboard. */
  readonly sessionTtlMs?: number;
  /** Codes outstanding at once; the oldest is dropped past it. */
  readonly maxCodes?: number;
  /** Sessions at once; the oldest is dropped past it. */
  readonly maxSessions?: number;
}

/** Every default, with its reason. */
export const DEFAULT_UI_SESSION_OPTIONS = Object.freeze({
  /** One minute: time to open the printed URL. */
  codeTtlMs: 60_000,
  /** A working day; after it, `smac ui` again. */
  sessionTtlMs: 12 * 3_600_000,
  /** Nobody needs more than a few codes waiting; the bound keeps a script's loop from growing memory. */
  maxCodes: 32,
  /** A few browsers per operator. */
  maxSessions: 64,
});

/** The cookie names start with this; the listener's port follows, so agents on one host keep theirs apart. */
export const UI_COOKIE_PREFIX = 'smac_ui_';

export interface IssuedCode {
  readonly code: string;
  readonly expiresInMs: number;
}

export interface NewSession {
  readonly session: string;
  readonly maxAgeSeconds: number;
}

export class UiSessions {
  private readonly now: () => number;
  private readonly codeTtlMs: number;
  private readonly sessionTtlMs: number;
  private readonly maxCodes: number;
  private readonly maxSessions: number;
  /** Digest → expiry (ms). Insertion order is age order. */
  private readonly codes = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  /** Base URL of the TCP listener, once it listens (the only place a browser can reach). */
  tcpUrl: string | undefined;

  constructor(options: UiSessionOptions = {}) {
    this.now = options.now ?? Date.now;
    this.codeTtlMs = options.codeTtlMs ?? DEFAULT_UI_SESSION_OPTIONS.codeTtlMs;
    this.sessionTtlMs = options.sessionTtlMs ?? DEFAULT_UI_SESSION_OPTIONS.sessionTtlMs;
    this.maxCodes = options.maxCodes ?? DEFAULT_UI_SESSION_OPTIONS.maxCodes;
    this.maxSessions = options.maxSessions ?? DEFAULT_UI_SESSION_OPTIONS.maxSessions;
  }

  /** A new single-use login code. */
  issueCode(): IssuedCode {
    const code = randomBytes(24).toString('base64url');
    add(this.codes, digest(code), this.now() + this.codeTtlMs, this.maxCodes, this.now());
    return { code, expiresInMs: this.codeTtlMs };
  }

  /** Trades a code for a session; undefined when the code is unknown, used or expired. */
  redeem(code: string): NewSession | undefined {
    const key = digest(code);
    const expires = this.codes.get(key);
    this.codes.delete(key); // single use, also when it failed for being late
    if (expires === undefined || this.now() >= expires) return undefined;
    const session = randomBytes(32).toString('base64url');
    add(this.sessions, digest(session), this.now() + this.sessionTtlMs, this.maxSessions, this.now());
    return { session, maxAgeSeconds: Math.floor(this.sessionTtlMs / 1000) };
  }

  /** Whether a cookie value is a live session. */
  valid(session: string): boolean {
    const key = digest(session);
    const expires = this.sessions.get(key);
    if (expires === undefined) return false;
    if (this.now() < expires) return true;
    this.sessions.delete(key);
    return false;
  }
}

function digest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Adds an entry after dropping expired ones, and the oldest when the map is full. */
function add(map: Map<string, number>, key: string, expires: number, max: number, now: number): void {
  for (const [k, e] of map) if (now >= e) map.delete(k);
  while (map.size >= max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
  map.set(key, expires);
}

/** Session cookie values in a Cookie header (any `smac_ui_<port>` cookie). */
export function uiCookieValues(header: string | undefined): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith(UI_COOKIE_PREFIX)) out.push(part.slice(eq + 1).trim());
  }
  return out;
}
