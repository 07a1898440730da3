// A store whose snapshot is in a format this build does not know (written by a newer release:
// a downgrade) is refused at start with a clear error and a stable code, and the store is left
// exactly as it was (docs/store.md "Upgrades and downgrades"). Before, the agent first recorded
// itself as running (and so took a new epoch at the next start, as after a crash) and then
// failed with the codec's UNSUPPORTED_VERSION, which names neither the store nor what to do.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { quiet, testConfig, waitFor } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Every row of the store's tables, as text: what "left untouched" compares. */
function contents(dataDir: string): string {
  const db = new DatabaseSync(join(dataDir, 'smac.db'), { readOnly: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all()
      .map((r) => String(r.name));
    return JSON.stringify(
      tables.map((t) => [
        t,
        db
          .prepare(`SELECT * FROM ${t}`)
          .all()
          .map((row) =>
            Object.entries(row).map(([k, v]) => [
              k,
              v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
            ]),
          ),
      ]),
    );
  } finally {
    db.close();
  }
}

/** Sets the format byte of the store's latest snapshot; returns the one it replaced. */
function setSnapshotFormat(dataDir: string, format: number): number {
  const db = new DatabaseSync(join(dataDir, 'smac.db'));
  try {
    const row = db.prepare('SELECT pos, bytes FROM snapshots ORDER BY pos DESC LIMIT 1').get();
    if (row === undefined) throw new Error('no snapshot in the store');
    const bytes = Uint8Array.from(row.bytes as Uint8Array);
    const was = bytes[0]!;
    bytes[0] = format;
    db.prepare('UPDATE snapshots SET bytes = ? WHERE pos = ?').run(bytes, row.pos as number);
    return was;
  } finally {
    db.close();
  }
}

describe('a snapshot format this build does not know', () => {
  it('is refused at start with STORE_UNSUPPORTED_VERSION naming the format, the store untouched', async () => {
    const config = testConfig({ snapshotEveryEvents: 5 });
    dirs.push(config.dataDir);
    const a = await Agent.start(config, { logger: quiet });
    for (let i = 0; i < 12; i++) await a.write([{ type: 'pn-counter', key: 'n', op: { kind: 'increment' } }]);
    await waitFor(() => a.status().counters.compactions > 0, 'a compaction');
    const origin = a.status().origin;
    await a.stop();

    const original = setSnapshotFormat(config.dataDir, 4); // as a newer release might write
    const before = contents(config.dataDir);
    let err: unknown;
    try {
      const b = await Agent.start(config, { logger: quiet });
      await b.stop();
    } catch (e) {
      err = e;
    }
    expect(err).toBeDefined();
    expect((err as { code?: unknown }).code).toBe('STORE_UNSUPPORTED_VERSION');
    expect((err as Error).message).toMatch(/snapshot in format 4/);
    expect((err as Error).message).toMatch(/formats 1 to 3/);
    expect((err as { details?: unknown }).details).toMatchObject({ snapshotFormat: 4, supported: [1, 2, 3] });
    expect(contents(config.dataDir)).toBe(before);

    // With the format it knows back (the operator runs the newer release again, say), the agent
    // starts as after any clean stop: same epoch, same state.
    setSnapshotFormat(config.dataDir, original);
    const c = await Agent.start(config, { logger: quiet });
    try {
      expect(c.status().origin).toBe(origin);
      expect(c.read('pn-counter', 'n')?.value).toBe(12);
    } finally {
      await c.stop();
    }
  });

  it('an event in a wire format this build does not know is refused the same way', async () => {
    const config = testConfig();
    dirs.push(config.dataDir);
    const a = await Agent.start(config, { logger: quiet });
    await a.write([{ type: 'pn-counter', key: 'n', op: { kind: 'increment' } }]);
    await a.stop();
    const db = new DatabaseSync(join(config.dataDir, 'smac.db'));
    const row = db.prepare('SELECT pos, bytes FROM events ORDER BY pos DESC LIMIT 1').get();
    const bytes = Uint8Array.from(row?.bytes as Uint8Array);
    bytes[0] = 9; // the envelope's version, as a newer release might write
    db.prepare('UPDATE events SET bytes = ? WHERE pos = ?').run(bytes, row?.pos as number);
    db.close();
    const before = contents(config.dataDir);
    await expect(Agent.start(config, { logger: quiet })).rejects.toMatchObject({
      code: 'STORE_UNSUPPORTED_VERSION',
      message: expect.stringMatching(/holds an event this build cannot read \(The envelope has version 9/),
    });
    expect(contents(config.dataDir)).toBe(before);
  });
});
