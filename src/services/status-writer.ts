/**
 * Writing check statuses (DESIGN.md "Services on the CRDTs"): only when a check's status
 * changes, or every `refreshMs` so `updatedAt` shows readers the check is still running, to
 * keep traffic low. Writes queued in one turn of the event loop leave as one event.
 */
import type { CheckResult, CheckStatus } from './checks.js';
import type { KeyspaceHost, ServiceLogger } from './host.js';
import { hasStatusField, splitCheckId, statusOp, storedRecords } from './service-keyspace.js';

export class StatusWriter {
  /** Per check: the status this agent last wrote and when (change detection and refresh). */
  private readonly written = new Map<string, { status: CheckStatus; at: number }>();
  /** Status writes waiting for the next flush, one per check: they leave as one event. */
  private readonly pending = new Map<string, { op: unknown; check: string }>();
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly host: KeyspaceHost,
    private readonly now: () => number,
    private readonly refreshMs: number,
    private readonly log: ServiceLogger,
  ) {}

  /** A result of check `id` (checkId) run on this node: written if it is news. */
  onResult(id: string, result: CheckResult): void {
    const [name, endpoint] = splitCheckId(id);
    const self = this.host.peerId;
    const record = storedRecords(this.host, name).find(
      (s) => s.record.id === endpoint && s.record.node === self,
    );
    if (!record?.record.check) return;
    const now = this.now();
    const last = this.written.get(id);
    if (
      last?.status === result.status &&
      now - last.at < this.refreshMs &&
      hasStatusField(this.host, name, endpoint)
    )
      return;
    this.written.set(id, { status: result.status, at: now });
    this.enqueue(id, statusOp(name, endpoint, { ...result, node: self, updatedAt: now }));
  }

  /** Counts `status` as written for check `id` (a register wrote it with the record). */
  markWritten(id: string, status: CheckStatus, at: number): void {
    this.written.set(id, { status, at });
  }

  /** Forgets what was written for check `id`, so its next result is written. */
  forget(id: string): void {
    this.written.delete(id);
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /** Queues `op` for check `id`, replacing one queued before, and schedules a flush. */
  enqueue(check: string, op: unknown): void {
    this.pending.set(check, { op, check });
    if (this.pending.size === 1) setImmediate(() => void this.flush().catch(() => undefined));
  }

  /**
   * Writes the queued status changes as one event, after any flush in progress. Resolves once
   * they are durable; rejects when this write or an earlier one it waited for failed (a
   * queued op may have left with the earlier batch).
   */
  flush(): Promise<void> {
    const prev = this.flushing ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        if (this.pending.size === 0) return;
        const batch = [...this.pending.values()];
        this.pending.clear();
        try {
          await this.host.write(
            batch.map((b) => b.op),
            { system: true },
          );
        } catch (e) {
          // Forget what was "written", so the next result of these checks tries again.
          for (const b of batch) this.written.delete(b.check);
          this.log.warn({ err: e }, 'writing check statuses failed');
          throw e;
        }
      });
    this.flushing = run;
    void run
      .catch(() => undefined)
      .finally(() => {
        if (this.flushing === run) this.flushing = undefined;
      });
    return Promise.all([prev, run]).then(() => undefined);
  }
}
