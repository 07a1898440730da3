// Peers refused as members of another cluster (src/agent/peer-refusals.ts): one error line per
// peer, counted every time, the gater's hold ends so that the peer can be judged again.
import { describe, expect, it } from 'vitest';
import {
  MAX_REFUSED_PEERS,
  PEER_MERGING_DIVERGED,
  PEER_REFUSED_DIVERGED,
  PeerRefusals,
  REFUSAL_EXPIRES_MS,
} from '../../src/agent/peer-refusals.js';

function setup() {
  const lines: { level: string; obj: Record<string, unknown> }[] = [];
  const log = {
    error: (obj: Record<string, unknown>) => lines.push({ level: 'error', obj }),
    info: (obj: Record<string, unknown>) => lines.push({ level: 'info', obj }),
  };
  const counters = { refusedDiverged: 0 };
  const clock = { now: 1_000 };
  const r = new PeerRefusals(log as never, counters, () => clock.now, 60_000);
  return { r, lines, counters, clock };
}

describe('PeerRefusals', () => {
  it('logs one error per peer with a stable code, and counts every refused heartbeat', () => {
    const { r, lines, counters } = setup();
    r.refuse('p', 'why');
    r.refuse('p', 'why');
    r.refuse('q', 'why');
    expect(counters.refusedDiverged).toBe(3);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.obj.peer)).toEqual(['p', 'q']);
    expect(errors.every((l) => l.obj.code === PEER_REFUSED_DIVERGED)).toBe(true);
    expect(r.list().map((e) => [e.peerId, e.reason])).toEqual([
      ['p', 'diverged'],
      ['q', 'diverged'],
    ]);
  });

  it('a diverged peer that merges is accepted, not refused: one info line, merged once its state is', () => {
    const { r, lines, counters } = setup();
    r.refuse('p', 'why');
    r.merging('p', 'why');
    r.merging('p', 'why');
    expect(r.isRefused('p')).toBe(false);
    expect(r.denies('p')).toBe(false);
    expect(r.mayMerge('p')).toBe(true);
    expect(r.mayMerge('q')).toBe(false);
    expect(counters.refusedDiverged).toBe(1);
    expect(lines.filter((l) => l.obj.code === PEER_MERGING_DIVERGED).map((l) => l.level)).toEqual(['info']);
    r.merged('p');
    expect(r.mayMerge('p')).toBe(false);
  });

  it('holds the gater for holdMs after the last refused heartbeat, then lets one connection through', () => {
    const { r, clock } = setup();
    r.refuse('p', 'why');
    clock.now += 59_000;
    expect(r.denies('p')).toBe(true);
    clock.now += 2_000;
    expect(r.denies('p')).toBe(false);
    expect(r.isRefused('p')).toBe(true); // still no member: nothing exchanged with it
    r.refuse('p', 'why'); // judged again, still diverged
    expect(r.denies('p')).toBe(true);
    expect(r.list()[0]?.since).toBe(1_000);
  });

  it('within the hold, lets the first connection the peer opens through once per refused heartbeat', () => {
    const { r } = setup();
    r.refuse('p', 'why');
    expect(r.denies('p', false)).toBe(true); // our dials: denied
    expect(r.denies('p', true)).toBe(false); // its first connection: judged again
    expect(r.denies('p', true)).toBe(true); // and no second one
    expect(r.denies('p', false)).toBe(true);
    expect(r.isRefused('p')).toBe(true);
    r.refuse('p', 'why'); // its heartbeat still showed the divergence
    expect(r.denies('p', true)).toBe(false);
    expect(r.denies('p', true)).toBe(true);
  });

  it('lifts a refusal (once), and a later refusal of the same peer logs no second error', () => {
    const { r, lines } = setup();
    expect(r.lift('p', 'x')).toBe(false);
    r.refuse('p', 'why');
    expect(r.lift('p', 'a shared member')).toBe(true);
    expect(r.isRefused('p')).toBe(false);
    expect(r.denies('p')).toBe(false);
    r.refuse('p', 'why');
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });

  // The diverged remedy restarts the refused node with an empty data directory and a new peer id
  // (test/agent/diverged-remedy.test.ts): its old id is never heard again. It used to stay listed
  // in /v1/status `refused` (and in memory) until this agent restarted.
  it('drops a refusal once the peer was not heard for REFUSAL_EXPIRES_MS; a running refused peer stays listed', () => {
    const expires = REFUSAL_EXPIRES_MS;
    const { r, clock, lines } = setup();
    r.refuse('old', 'why');
    r.refuse('running', 'why');
    // `running` keeps heartbeating (judged again after each hold); `old` was restarted empty.
    for (let t = 0; t < expires; t += 60_000) {
      clock.now += 60_000;
      r.refuse('running', 'why');
    }
    expect(r.list().map((e) => e.peerId)).toEqual(['running']);
    expect(r.isRefused('old')).toBe(false);
    expect(r.denies('old', true)).toBe(false);
    expect(r.isRefused('running')).toBe(true);
    // Refused again later (it came back diverged): listed and logged again.
    r.refuse('old', 'why');
    expect(r.isRefused('old')).toBe(true);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.obj.peer)).toEqual([
      'old',
      'running',
      'old',
    ]);
  });

  it('lists at most MAX_REFUSED_PEERS, dropping the one heard longest ago', () => {
    const max = MAX_REFUSED_PEERS;
    const { r, clock } = setup();
    for (let i = 0; i <= max; i++) {
      r.refuse(`p${String(i)}`, 'why');
      clock.now += 10;
    }
    const listed = r.list().map((e) => e.peerId);
    expect(listed).toHaveLength(max);
    expect(listed).not.toContain('p0');
    expect(listed).toContain(`p${String(max)}`);
  });
});
