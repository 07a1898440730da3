/**
 * One watch: follows the objects under a key prefix and tells a sink what changed (DESIGN.md
 * "Services" → Watches). Transport-free, so it is tested without sockets; routes/watch.ts puts
 * it on a server-sent-events stream.
 *
 * The session keeps its own cursor, a vector clock that equals the agent's clock right after
 * the last event it accounted for. Events arrive in causal order, so an event that is "next"
 * (seq = cursor[origin] + 1, deps ≤ cursor) advances the cursor exactly. Anything else means
 * the agent applied something without telling (a snapshot installed from a peer, a skipped
 * event): the session then resynchronizes from its cursor through `changesSince`, or with a
 * fresh snapshot when the agent's log no longer covers it. The heartbeat checks the same, so
 * a silent change is caught even when no event follows it.
 *
 * Every event carries the cursor a client resumes from. When one event yields several
 * changes, all but the last carry the cursor from before it: a client cut off in the middle
 * replays the whole event (values are current state, so replay is harmless) rather than lose
 * part of it. Changes whose value is what this stream last sent are never sent.
 */
import { createHash } from 'node:crypto';
import {
  type ReadonlyVectorClock,
  type VectorClock,
  vcClone,
  vcGet,
  vcLeq,
  vcToRecord,
} from '../core/clock/vector-clock.js';
import { canonicalJson, type Json } from '../core/json.js';
import { type ApiAgent, type ApiChangeNotice, type ApiObjectRef, shownClock } from './agent-port.js';
import { encodeCursor } from './cursor.js';
import type { ChangeData, SnapshotData } from './schemas.js';

export interface WatchSink {
  snapshot(cursor: string, data: SnapshotData): void;
  change(cursor: string, data: ChangeData): void;
  /**
   * Called after each complete group of frames (a snapshot, one event's changes, a catch-up):
   * the last frame sent carries a cursor that covers everything sent. The only safe point to
   * end a stream, since ending it mid-group would make a client resume from the same cursor
   * again and again.
   */
  flush?(): void;
}

interface Pending {
  readonly data: ChangeData;
  readonly id: string;
  readonly digest: string | null;
}

export class WatchSession {
  private cursor: VectorClock = new Map();
  /** What the client was last sent per object: a digest of its canonical JSON, or null for "deleted". */
  private readonly sent = new Map<string, string | null>();
  /** After a snapshot the client's view is complete: objects not in `sent` are known absent. */
  private complete = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly agent: ApiAgent,
    private readonly prefix: string,
    private readonly sink: WatchSink,
    /** Called when the session fails on its own (a bug); the transport should close the stream. */
    private readonly onFailure: (e: unknown) => void = () => undefined,
  ) {}

  /** Sends the initial snapshot (no cursor) or what changed after `cursor`, then follows changes. */
  start(sent: ReadonlyVectorClock | undefined): void {
    // A cursor we handed out left out the retired epochs it held at their cut: count them again
    // where it proves it holds them (src/core/retired-epochs.ts); others read as zero (safe).
    const cursor = sent && this.agent.expandClock ? this.agent.expandClock(sent) : sent;
    // Subscribe first: nothing runs between here and the catch-up, so no change is missed.
    this.unsubscribe = this.agent.onChange((n) => {
      try {
        this.onNotice(n);
      } catch (e) {
        // A listener runs inside the agent's owner loop: never let a watch break it.
        this.stop();
        this.onFailure(e);
      }
    });
    if (cursor === undefined) this.sendSnapshot();
    else this.resync(cursor);
  }

  /** Periodic check (with the transport's heartbeat): catches changes applied without a notice. */
  check(): void {
    if (this.unsubscribe && !vcLeq(this.agent.clock(), this.cursor)) this.resync(this.cursor);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** The cursor of everything this session accounted for (a client may resume from it). */
  position(): string {
    return this.encode(this.cursor);
  }

  /** A cursor as clients get it: without retired epochs (ApiAgent.pruneClock). */
  private encode(vc: ReadonlyVectorClock): string {
    return encodeCursor(shownClock(this.agent, vc));
  }

  private onNotice(n: ApiChangeNotice): void {
    const { origin, seq, deps } = n.event;
    const have = vcGet(this.cursor, origin);
    if (seq <= have) return; // already covered by a resync that read the current state
    if (seq !== have + 1 || !vcLeq(deps, this.cursor)) {
      this.resync(this.cursor);
      return;
    }
    const before = this.encode(this.cursor);
    this.cursor.set(origin, seq);
    this.emit(this.pendingFor(n.objects, { origin, seq }), before, this.encode(this.cursor));
  }

  private resync(from: ReadonlyVectorClock): void {
    const now = this.agent.clock();
    // A cursor ahead of this agent (another agent's, or from before a data loss) cannot be caught up.
    if (!vcLeq(from, now)) {
      this.sendSnapshot();
      return;
    }
    const changes = this.agent.changesSince(from);
    if (changes.snapshotNeeded) {
      this.sendSnapshot();
      return;
    }
    const before = this.encode(from);
    this.cursor = vcClone(now);
    this.emit(this.pendingFor(changes.objects, undefined), before, this.encode(this.cursor));
  }

  private sendSnapshot(): void {
    const objects = this.agent.list(this.prefix);
    this.cursor = vcClone(this.agent.clock());
    this.sent.clear();
    for (const o of objects) this.sent.set(objectId(o), digest(o.value));
    this.complete = true;
    this.sink.snapshot(this.encode(this.cursor), {
      objects: objects.map((o) => ({ type: o.type, key: o.key, value: o.value })),
      clock: vcToRecord(shownClock(this.agent, this.cursor)),
    });
    this.sink.flush?.();
  }

  /** The changes to send for `refs`, skipping objects outside the prefix and unchanged values. */
  private pendingFor(
    refs: readonly ApiObjectRef[],
    dot: { origin: string; seq: number } | undefined,
  ): Omit<Pending, 'id'>[] {
    const out: Omit<Pending, 'id'>[] = [];
    const seen = new Set<string>();
    for (const ref of refs) {
      if (!ref.key.startsWith(this.prefix)) continue;
      const id = objectId(ref);
      if (seen.has(id)) continue;
      seen.add(id);
      const view = this.agent.read(ref.type, ref.key);
      const last = this.sent.get(id);
      if (view) {
        const d = digest(view.value);
        if (last === d) continue;
        out.push({ data: { type: ref.type, key: ref.key, value: view.value, ...dot }, digest: d });
      } else {
        if (last === null || (last === undefined && this.complete)) continue;
        out.push({ data: { type: ref.type, key: ref.key, deleted: true, ...dot }, digest: null });
      }
    }
    return out;
  }

  private emit(pending: readonly Omit<Pending, 'id'>[], before: string, after: string): void {
    pending.forEach((p, i) => {
      const id = objectId(p.data);
      // Under a complete view an absent entry already means "deleted": keep the map small.
      if (p.digest === null && this.complete) this.sent.delete(id);
      else this.sent.set(id, p.digest);
      this.sink.change(i === pending.length - 1 ? after : before, p.data);
    });
    if (pending.length > 0) this.sink.flush?.();
  }
}

function objectId(o: { readonly type: string; readonly key: string }): string {
  return o.type + '\u0000' + o.key;
}

/** Identity of a value: its canonical JSON, hashed when long so a watch holds O(objects) small strings. */
function digest(value: Json): string {
  const s = canonicalJson(value, Number.MAX_SAFE_INTEGER);
  return s.length <= 64 ? 'j' + s : 'h' + createHash('sha256').update(s).digest('base64');
}
