/**
 * How alive, suspect, dead and left news changes the member table, by SWIM's incarnation
 * rules (§4.2): a higher incarnation always wins; at equal incarnation suspect beats alive and
 * dead/left beat both; dead and left are final for their incarnation. News about ourselves is
 * refuted by raising our incarnation (Lifeguard: which also counts against our local health).
 * Each handler appends its effects to `fx`.
 */
import { canonicalJson } from '../json.js';
import { confirmationsWanted, suspicionMaxMs, suspicionMinMs } from './config.js';
import type { DetectorState, MemberState } from './detector-state.js';
import {
  MAX_INCARNATION,
  type MemberInfo,
  type MembershipEffect,
  type MembershipMessage,
  type MemberStatus,
} from './messages.js';
import { Suspicion } from './suspicion.js';

export function onAlive(
  s: DetectorState,
  msg: Extract<MembershipMessage, { kind: 'alive' }>,
  gossip: boolean,
  fx: MembershipEffect[],
): void {
  if (msg.id === s.id) {
    if (s.leaving) return;
    const conflicting =
      msg.incarnation > s.me.incarnation ||
      (msg.incarnation === s.me.incarnation &&
        canonicalJson(msg.meta, s.config.maxMetaBytes, 'member metadata') !== s.me.metaKey);
    // Someone holds a claim about us we did not make (an earlier life): outbid it.
    if (conflicting) refute(s, msg.incarnation, fx);
    return;
  }
  const m = s.table.get(msg.id);
  if (!m) {
    if (s.table.size >= s.config.maxMembers) {
      s.counters.rejected++;
      fx.push({
        kind: 'rejected',
        input: 'alive',
        reason: `the member table is full (${s.config.maxMembers}); raise maxMembers`,
      });
      return;
    }
    const fresh: MemberState = {
      id: msg.id,
      incarnation: msg.incarnation,
      status: 'alive',
      meta: msg.meta,
      metaKey: canonicalJson(msg.meta, s.config.maxMetaBytes, 'member metadata'),
      sinceMs: s.nowMs,
    };
    s.table.set(msg.id, fresh);
    s.probeOrder.add(msg.id);
    changed(s, fresh, null, fx);
    if (gossip) s.queue.enqueue(msg);
    return;
  }
  if (msg.incarnation <= m.incarnation) return;
  const from = m.status;
  m.incarnation = msg.incarnation;
  m.meta = msg.meta;
  m.metaKey = canonicalJson(msg.meta, s.config.maxMetaBytes, 'member metadata');
  s.suspicions.delete(m.id);
  if (from !== 'alive') {
    m.status = 'alive';
    m.sinceMs = s.nowMs;
    s.probeOrder.add(m.id);
    changed(s, m, from, fx);
  }
  if (gossip) s.queue.enqueue(msg);
}

export function onSuspect(
  s: DetectorState,
  msg: Extract<MembershipMessage, { kind: 'suspect' }>,
  fx: MembershipEffect[],
): void {
  const m = accused(s, msg, fx);
  if (!m) return;
  const current = s.suspicions.get(m.id);
  if (m.status === 'suspect' && current && msg.incarnation === m.incarnation) {
    // Lifeguard: another member's independent accusation shortens the timeout. Gossip it on
    // only if it was news, so confirmations keep flowing without echoing for ever.
    if (current.confirm(msg.from)) spread(s, msg, fx);
    return;
  }
  // A new accusation (or one at an incarnation we had not heard of: a fresh suspicion, so
  // the member gets the full time to refute it).
  const n = s.liveCount();
  s.suspicions.set(
    m.id,
    new Suspicion(
      msg.from,
      confirmationsWanted(s.config, n),
      suspicionMinMs(s.config, n),
      suspicionMaxMs(s.config, n),
      s.nowMs,
    ),
  );
  m.incarnation = msg.incarnation;
  if (msg.from === s.id) s.counters.suspicionsRaised++;
  if (m.status !== 'suspect') {
    const from = m.status;
    m.status = 'suspect';
    m.sinceMs = s.nowMs;
    changed(s, m, from, fx);
  }
  spread(s, msg, fx);
}

/** dead or left: final for the incarnation. */
export function onDown(
  s: DetectorState,
  msg: Extract<MembershipMessage, { kind: 'dead' | 'left' }>,
  fx: MembershipEffect[],
): void {
  const m = accused(s, msg, fx);
  if (!m) return;
  s.suspicions.delete(m.id);
  const from = m.status;
  m.status = msg.kind;
  m.incarnation = msg.incarnation;
  m.sinceMs = s.nowMs;
  changed(s, m, from, fx);
  spread(s, msg, fx);
}

/**
 * The member a suspect, dead or left message accuses, when the news can change it: not us (an
 * accusation of us is answered here), known, at no older incarnation, and not already down.
 */
function accused(
  s: DetectorState,
  msg: Extract<MembershipMessage, { kind: 'suspect' | 'dead' | 'left' }>,
  fx: MembershipEffect[],
): MemberState | undefined {
  if (msg.id === s.id) {
    accusedOfIncarnation(s, msg.incarnation, fx);
    return undefined;
  }
  const m = s.table.get(msg.id);
  if (!m || msg.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return undefined;
  return m;
}

/** Someone holds us suspect, dead or gone at `incarnation`. */
export function accusedOfIncarnation(s: DetectorState, incarnation: number, fx: MembershipEffect[]): void {
  if (s.leaving) return;
  if (incarnation >= s.me.incarnation) {
    refute(s, incarnation, fx);
  } else if (s.queue.peek(s.id)?.kind !== 'alive') {
    // A stale accusation still circulating: our current alive outbids it; make sure it is out.
    s.queue.enqueue(s.selfAlive());
  }
}

function refute(s: DetectorState, accused: number, fx: MembershipEffect[]): void {
  // Accusations are below MAX_INCARNATION (messages.ts); an alive about us may be at it.
  s.me.incarnation = Math.min(Math.max(s.me.incarnation, accused) + 1, MAX_INCARNATION);
  // Lifeguard: being suspected hints that we are the slow one.
  s.awareness.apply(1);
  s.counters.refutations++;
  fx.push({ kind: 'refute', incarnation: s.me.incarnation });
  spread(s, s.selfAlive(), fx);
}

export function leave(s: DetectorState, fx: MembershipEffect[]): void {
  if (s.leaving) return;
  s.leaving = true;
  s.me.status = 'left';
  s.me.sinceMs = s.nowMs;
  changed(s, s.me, 'alive', fx);
  spread(s, { kind: 'left', id: s.id, incarnation: s.me.incarnation }, fx);
}

/** Our departure has gone out: no gossip left to carry it, or nobody left to tell. */
export function leaveDisseminated(s: DetectorState): boolean {
  return s.config.maxPiggyback === 0 || s.liveCount() === 0 || s.queue.peek(s.id)?.kind !== 'left';
}

/** Queues a message for piggybacking; a message we originate also goes out as a broadcast. */
function spread(s: DetectorState, msg: MembershipMessage, fx: MembershipEffect[]): void {
  s.queue.enqueue(msg);
  const ours = msg.id === s.id || ((msg.kind === 'suspect' || msg.kind === 'dead') && msg.from === s.id);
  if (ours) fx.push({ kind: 'broadcast', message: msg });
}

function changed(s: DetectorState, m: MemberState, from: MemberStatus | null, fx: MembershipEffect[]): void {
  fx.push({
    kind: 'status-changed',
    id: m.id,
    from,
    to: m.status,
    incarnation: m.incarnation,
    meta: m.meta,
    atMs: s.nowMs,
  });
}

export function aliveOf(m: MemberInfo): Extract<MembershipMessage, { kind: 'alive' }> {
  return { kind: 'alive', id: m.id, incarnation: m.incarnation, meta: m.meta };
}
