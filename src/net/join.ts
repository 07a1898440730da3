/**
 * Join addresses (DESIGN.md "Discovery"): the multiaddrs of a few agents, typically in other
 * regions, that this agent keeps dialing for as long as it runs. libp2p's bootstrap dials its
 * list once, after a second, and never again, so a node whose seed was down at start stays
 * alone; and its keep-alive reconnect queue gives up after five tries. The Joiner retries
 * forever instead, with exponential backoff and jitter (so that a cluster restarting together
 * does not dial in lockstep), stops while it is connected to an address, and resumes when
 * that connection drops.
 *
 * After a partition heals, the join should come back within a second or so, not after the
 * long waits an outage builds up: the backoff is capped at half a second (a refused dial costs
 * a couple of packets; the cap is most of the wait from a heal until the first connection is
 * back, issue 8), and any new connection, which says the network works again, redials
 * every waiting address at once, and replaces a dial that has hung for a second or more (its
 * SYNs were dropped by the cut: the kernel would retry only 1 and 3 s after it started, and
 * then nothing until the dial times out).
 */
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { CODE_P2P, type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { NetErrorCode, netFail } from './errors.js';

export interface JoinerOptions {
  /** Multiaddrs to stay connected to, ideally ending in /p2p/<peer id>. */
  addresses: readonly string[];
  /** Wait before the first retry (default 250). */
  initialBackoffMs?: number;
  /**
   * Longest wait between tries (default 500). Longer costs less against a peer that is gone
   * for good; shorter reconnects sooner after a long outage.
   */
  maxBackoffMs?: number;
  /** Growth of the wait per failed try (default 2). */
  backoffFactor?: number;
  /** Longest one dial may take (default 5000). */
  dialTimeoutMs?: number;
  /** Uniform random numbers in [0, 1), for the jitter. Injectable so tests can fix it. */
  random?: () => number;
  /** Called after each failed dial, for logs and metrics. */
  onDialError?: (address: string, error: unknown) => void;
  /** Called when a dial succeeds. */
  onConnected?: (address: string, peerId: PeerId) => void;
}

export type JoinState = 'idle' | 'dialing' | 'connected' | 'waiting' | 'self';

export interface JoinAddressStatus {
  readonly address: string;
  readonly state: JoinState;
  /** Failed dials since the last success. */
  readonly failures: number;
  /** The peer at the address, once known (from the address or a connection). */
  readonly peerId: string | undefined;
}

type JoinNode = Pick<
  Libp2p,
  'peerId' | 'dial' | 'getConnections' | 'addEventListener' | 'removeEventListener'
>;

interface Target {
  readonly address: string;
  readonly ma: Multiaddr;
  peerId: PeerId | undefined;
  state: JoinState;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** When the latest dial started (ms, Date.now), to keep tries apart. */
  triedAt: number;
  /** Aborts the dial in flight, to replace it with a fresh one. */
  dial: AbortController | undefined;
  /** The dial in flight replaces one: it is not replaced in turn (a slow link must get through). */
  replacement: boolean;
}

const DEFAULTS = { initialBackoffMs: 250, maxBackoffMs: 500, backoffFactor: 2, dialTimeoutMs: 5_000 };

/** A new connection redials a waiting address only if its latest try is at least this old. */
const MIN_REDIAL_GAP_MS = 200;
/** ...and replaces a dial in flight only if it is at least this old (a WAN handshake is not). */
const STUCK_DIAL_MS = 1_000;

/** The abort reason of a dial replaced by a fresh one. */
const REPLACED = new Error('replaced by a fresh dial: the network is back');

/**
 * The wait before try number `failures + 1`: exponential, capped, with "equal jitter" (half
 * fixed, half random), so waits never collapse to zero yet spread out across nodes.
 */
export function backoffDelayMs(
  failures: number,
  opts: { initialBackoffMs: number; maxBackoffMs: number; backoffFactor: number },
  random: () => number,
): number {
  const base = Math.min(
    opts.maxBackoffMs,
    opts.initialBackoffMs * opts.backoffFactor ** Math.max(0, failures - 1),
  );
  return base / 2 + (random() * base) / 2;
}

export class Joiner {
  private readonly targets: Target[];
  private readonly opts: typeof DEFAULTS;
  private readonly random: () => number;
  private running = false;
  private abort = new AbortController();

  constructor(
    private readonly node: JoinNode,
    private readonly options: JoinerOptions,
  ) {
    this.opts = {
      initialBackoffMs: options.initialBackoffMs ?? DEFAULTS.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULTS.maxBackoffMs,
      backoffFactor: options.backoffFactor ?? DEFAULTS.backoffFactor,
      dialTimeoutMs: options.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
    };
    for (const [name, v] of Object.entries(this.opts)) {
      if (!Number.isFinite(v) || v <= 0) {
        netFail(NetErrorCode.InvalidArgument, `The join option ${name} must be a positive number; got ${v}.`);
      }
    }
    if (this.opts.backoffFactor < 1) {
      netFail(NetErrorCode.InvalidArgument, 'The join option backoffFactor must be at least 1.');
    }
    this.random = options.random ?? Math.random;
    this.targets = [...new Set(options.addresses)].map((address) => {
      let ma: Multiaddr;
      try {
        ma = multiaddr(address);
      } catch (e) {
        return netFail(
          NetErrorCode.InvalidArgument,
          `The join address ${JSON.stringify(address)} is not a multiaddr, e.g. /ip4/10.0.0.1/tcp/7946/p2p/12D3KooW...`,
          { cause: e },
        );
      }
      const t: Target = {
        address,
        ma,
        peerId: undefined,
        state: 'idle',
        failures: 0,
        timer: undefined,
        triedAt: 0,
        dial: undefined,
        replacement: false,
      };
      return t;
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.node.addEventListener('peer:disconnect', this.onDisconnect);
    this.node.addEventListener('peer:connect', this.onConnect);
    for (const t of this.targets) this.attempt(t);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.node.removeEventListener('peer:disconnect', this.onDisconnect);
    this.node.removeEventListener('peer:connect', this.onConnect);
    this.abort.abort();
    for (const t of this.targets) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = undefined;
      if (t.state !== 'self') t.state = 'idle';
    }
  }

  status(): JoinAddressStatus[] {
    return this.targets.map((t) => ({
      address: t.address,
      state: t.state,
      failures: t.failures,
      peerId: t.peerId?.toString(),
    }));
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const gone = evt.detail.toString();
    for (const t of this.targets) {
      if (t.state === 'connected' && t.peerId?.toString() === gone) {
        // Not at once: a peer that accepts and then drops us must not become a hot loop.
        this.schedule(t, backoffDelayMs(1, this.opts, this.random));
      }
    }
  };

  /**
   * A connection came up (inbound or outbound, any peer): the network works again, so every
   * address waiting out its backoff is tried now, unless it was tried a moment ago, and a dial
   * hanging for a while is replaced by a fresh one.
   */
  private readonly onConnect = (): void => {
    const now = Date.now();
    for (const t of this.targets) {
      if (t.state === 'dialing' && !t.replacement && now - t.triedAt >= STUCK_DIAL_MS) {
        t.replacement = true;
        t.dial?.abort(REPLACED);
      }
      if (t.state !== 'waiting' || now - t.triedAt < MIN_REDIAL_GAP_MS) continue;
      if (t.timer) clearTimeout(t.timer);
      this.attempt(t);
    }
  };

  private attempt(t: Target): void {
    if (!this.running || t.state === 'self' || t.state === 'dialing') return;
    t.timer = undefined;
    const known = t.peerId ?? peerIdOf(t.ma);
    if (known?.equals(this.node.peerId)) {
      t.state = 'self';
      return;
    }
    if (known && this.node.getConnections(known).length > 0) {
      t.peerId = known;
      t.state = 'connected';
      return;
    }
    t.state = 'dialing';
    t.triedAt = Date.now();
    const replace = new AbortController();
    t.dial = replace;
    const signal = AbortSignal.any([
      this.abort.signal,
      replace.signal,
      AbortSignal.timeout(this.opts.dialTimeoutMs),
    ]);
    this.node.dial(t.ma, { signal }).then(
      (connection) => {
        if (!this.running) return;
        t.failures = 0;
        t.replacement = false;
        t.peerId = connection.remotePeer;
        if (t.peerId.equals(this.node.peerId)) {
          t.state = 'self';
          return;
        }
        t.state = 'connected';
        this.options.onConnected?.(t.address, t.peerId);
        // The connection may have closed before we got here, with no disconnect left to see.
        if (this.node.getConnections(t.peerId).length === 0) this.schedule(t, 0);
      },
      (error: unknown) => {
        if (!this.running) return;
        if (replace.signal.aborted) {
          // Not a failure: a fresh dial, once libp2p has dropped this one (a macrotask later).
          this.schedule(t, 0);
          return;
        }
        t.failures++;
        t.replacement = false;
        this.options.onDialError?.(t.address, error);
        if (isSelfDial(error)) {
          t.state = 'self';
          return;
        }
        this.schedule(t, backoffDelayMs(t.failures, this.opts, this.random));
      },
    );
  }

  private schedule(t: Target, delayMs: number): void {
    if (!this.running) return;
    if (t.timer) clearTimeout(t.timer);
    t.state = 'waiting';
    t.timer = setTimeout(() => {
      this.attempt(t);
    }, delayMs);
    t.timer.unref();
  }
}

function peerIdOf(ma: Multiaddr): PeerId | undefined {
  const value = ma.getComponents().findLast((c) => c.code === CODE_P2P)?.value;
  if (value === undefined) return undefined;
  try {
    return peerIdFromString(value);
  } catch {
    return undefined;
  }
}

/** Operators list every seed on every node, this one included: dialing ourselves is not a failure to retry. */
function isSelfDial(error: unknown): boolean {
  return error instanceof Error && /can ?not dial self/i.test(error.message);
}
