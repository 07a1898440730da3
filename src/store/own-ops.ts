/**
 * The client operations behind this agent's own events (issue 7, "a reaped member that comes
 * back loses nothing it acknowledged"; src/agent/rebase.ts).
 *
 * When this agent's epoch is reaped at a cut below what it wrote, its events beyond the cut are
 * refused everywhere, and it re-runs the *client* operations of those writes as new writes under
 * a new epoch, against the state it then holds. The downstream ops of the log cannot be
 * replayed: their observed contexts name dots of the old state, so a replayed remove or
 * overwrite would claim to have seen what it had not. So each acknowledged client write keeps
 * its batch here, as JSON, in the transaction that logs its event; rows covered by the stable
 * frontier are dropped at compaction (an event every member holds can never be beyond a cut),
 * which bounds the table by what the log holds of our own events, and rows a rebase moved into
 * its pending record are dropped then. A rebase that empties the log keeps the rest: the
 * epoch it rebased from may be retired again at a lower cut (docs/agent.md "Reaping"). System writes (member
 * record, reports, services) are not kept: the agent's services write them afresh.
 *
 * Created on open when missing, outside the numbered migrations, like the heads table.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { intColumn, type Row, textColumn } from './sqlite.js';

export interface OwnOps {
  readonly seq: number;
  /** The client batch, as JSON. */
  readonly ops: string;
}

export class OwnOpsTable {
  private readonly insert: StatementSync;
  private readonly after: StatementSync;
  private readonly pruneUpTo: StatementSync;
  private readonly dropBeyond: StatementSync;
  private readonly countAll: StatementSync;

  constructor(
    db: DatabaseSync,
    private readonly file: string,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS own_ops (
        origin TEXT    NOT NULL,
        seq    INTEGER NOT NULL CHECK (seq > 0),
        ops    TEXT    NOT NULL,
        PRIMARY KEY (origin, seq)
      ) STRICT, WITHOUT ROWID;`);
    this.insert = db.prepare('INSERT OR IGNORE INTO own_ops (origin, seq, ops) VALUES (?, ?, ?)');
    this.after = db.prepare('SELECT seq, ops FROM own_ops WHERE origin = ? AND seq > ? ORDER BY seq');
    this.pruneUpTo = db.prepare('DELETE FROM own_ops WHERE origin = ? AND seq <= ?');
    this.dropBeyond = db.prepare('DELETE FROM own_ops WHERE origin = ? AND seq > ?');
    this.countAll = db.prepare('SELECT COUNT(*) AS n FROM own_ops');
  }

  /** Records one write's client batch; call inside the transaction that logs its event. */
  record(origin: string, seq: number, ops: string): void {
    this.insert.run(origin, seq, ops);
  }

  /** The client batches of `origin` beyond `seq`, in seq order. */
  since(origin: string, seq: number): OwnOps[] {
    return this.after.all(origin, seq).map((r: Row) => ({
      seq: intColumn(r, 'seq', this.file),
      ops: textColumn(r, 'ops', this.file),
    }));
  }

  /**
   * Drops the batches of `origin` up to `seq`. Batches of our older epochs stay until they are
   * stable too: an older epoch may yet be reaped below them (rebase.ts re-runs them then).
   */
  prune(origin: string, seq: number): void {
    this.pruneUpTo.run(origin, seq);
  }

  /** How many client batches are kept (status `compaction.ownOpsKept`). */
  count(): number {
    const row = this.countAll.get();
    return row ? intColumn(row, 'n', this.file) : 0;
  }

  /**
   * Drops the batches of `origin` beyond `seq`: a rebase moved them into its pending record, to
   * be re-run under a new epoch (src/agent/rebase-ops.ts). Those up to `seq` stay: a lower cut of
   * the same epoch may still come (a mutual reap whose winner was not known yet), and then they
   * are re-run too.
   */
  drop(origin: string, seq: number): void {
    this.dropBeyond.run(origin, seq);
  }
}
