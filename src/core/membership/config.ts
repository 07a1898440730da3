/**
 * Failure-detector configuration: every field with its unit, its trade-off and the formula it
 * feeds, and the two profiles in one place (after memberlist's DefaultLANConfig and
 * DefaultWANConfig: the WAN profile starts from the LAN one and overrides a few fields).
 *
 * The derived quantities live here too, so docs/membership.md, the detector and the tests all
 * compute the same numbers: the suspicion timeouts (Lifeguard, Dadgar et al. 2018, §IV-B;
 * memberlist suspicion.go), the retransmit limit of piggybacked gossip (SWIM, Das et al. 2002,
 * §4.1: infection-style dissemination needs O(log N) rounds) and the detection-time bound.
 */
import { ErrorCode, fail } from '../errors.js';

export interface MembershipConfig {
  /**
   * The protocol period: one member is probed per period. Shorter detects failures sooner and
   * costs proportionally more probe traffic (one ping and one ack per member per period,
   * independent of cluster size: SWIM §3.1). Every timeout below is counted in periods.
   */
  readonly probeIntervalMs: number;
  /**
   * How long a direct ping waits for its ack before asking `indirectChecks` other members to
   * try. Set it near the 99th percentile of the round-trip time: lower and congestion looks like
   * failure; higher leaves less of the period for the indirect probe. Must be below the period,
   * because the indirect probe and its nacks have to fit in the rest of it.
   */
  readonly probeTimeoutMs: number;
  /**
   * Adaptive probe timeouts (docs/membership.md): the timeout for a member is
   * max(probeTimeoutMs, rttTimeoutMult × srtt + 4 × rttvar), from the smoothed round trip and
   * its deviation measured by our own pings to it (TCP's RTO estimator), capped by
   * maxProbeTimeoutMs, and the probe's period stretches to twice that timeout when it exceeds
   * half the period, so the indirect probe still fits. probeTimeoutMs is then the floor, and one
   * default serves a LAN (sub-millisecond round trips: the floor rules) and a WAN (150–300 ms:
   * the measurement rules). Higher tolerates more queueing and event-loop delay before a
   * member is probed indirectly and slows detection of a member on a slow link by as much; 0
   * turns adaptation off (the fixed probeTimeoutMs of memberlist).
   */
  readonly rttTimeoutMult: number;
  /**
   * The most an adaptive probe timeout may grow to, however slow a member's measured round
   * trips: a member so slow is better suspected (and refutes if it is alive) than waited for.
   */
  readonly maxProbeTimeoutMs: number;
  /**
   * k: members asked to ping the target for us (ping-req) when the direct ping times out.
   * More routes around a single bad link (SWIM §3.1: the false-positive probability falls
   * exponentially with k) and cost 4 messages each per failed direct ping. 0 disables them.
   */
  readonly indirectChecks: number;
  /**
   * Probes of a member that must fail in a row, each a full probe (direct ping, then the
   * indirect one), before we suspect it; the next attempt starts at once, out of turn. A
   * member whose connection the transport lost and could not reopen is suspected after one
   * (its process is gone, most likely). Higher tolerates longer stalls of a live member (an
   * event loop starved of CPU for seconds answers nothing, yet refutes when it wakes) and
   * delays the first suspicion of a silent crash or a partition by one period per attempt;
   * 1 is SWIM's and memberlist's single probe.
   */
  readonly probeAttempts: number;
  /**
   * Scales the suspicion timeout with cluster size:
   * min = max(suspicionFloorMs, suspicionMult × log10(N) × probeIntervalMs) (memberlist's
   * suspicionTimeout, with our floor in place of its max(1, log10 N)). Higher gives a
   * suspected member more time to hear of it and refute (fewer false positives), and delays
   * the declaration of a real failure by as much. It also sets how many independent
   * confirmations drive the timeout down to min: k = suspicionMult − 2.
   */
  readonly suspicionMult: number;
  /**
   * The least a suspicion lasts, however small the cluster. memberlist's max(1, log10 N) makes
   * it suspicionMult periods for every N ≤ 10 (4 s on a LAN), two thirds of a SIGKILL's
   * detection in a three-region cluster (docs/benchmarks.md). A suspected live member needs
   * only a gossip round and a round trip to refute, and the last-chance ping carries the
   * suspicion to it besides; so small clusters get log N scaling down to this floor. Lower
   * detects sooner in small clusters and leaves a member stalled for longer than this (CPU
   * starvation, a long pause) to be declared dead, to rejoin when it wakes (it refutes).
   */
  readonly suspicionFloorMs: number;
  /**
   * Lifeguard's dynamic suspicion: a suspicion starts at max = suspicionMaxTimeoutMult × min
   * and shrinks towards min as other members independently confirm it:
   * timeout(c) = max − (max − min) × log(c + 1) / log(k + 1). Higher protects a member that
   * only one (perhaps unhealthy) member suspects, at the cost of slower detection when nobody
   * confirms — rare for a real failure, since every member probes it.
   */
  readonly suspicionMaxTimeoutMult: number;
  /**
   * λ: each piggybacked message is sent retransmitMult × ceil(log10(N + 1)) times by every
   * member that relays it (memberlist's retransmitLimit). Higher makes it likelier that
   * everyone hears, and costs bytes on every probe packet.
   */
  readonly retransmitMult: number;
  /**
   * Lifeguard's local health multiplier: the score runs 0 … awarenessMaxMultiplier − 1, and
   * the probe period and timeouts are scaled by (score + 1). A member that misses its own
   * acks and nacks (it is slow or its network is) probes more patiently instead of accusing
   * healthy peers. 1 disables it; higher tolerates worse local trouble and slows detection
   * by an unhealthy member by as much.
   */
  readonly awarenessMaxMultiplier: number;
  /**
   * How long a dead or left member is remembered before it is forgotten. While remembered,
   * stale gossip at its old incarnation cannot bring it back; afterwards any alive claim can.
   * Longer is safer against slow gossip and costs one table entry per departed member.
   */
  readonly deadRetentionMs: number;
  /**
   * How often pending gossip is pushed to `gossipNodes` random members in a packet of its own,
   * besides riding on probes (memberlist's gossip loop). Probes alone spread news at about two
   * packets per member per period, too slow for a refutation to beat a short suspicion; this
   * loop spreads it in a few hundred milliseconds. Nothing is sent while there is no news, so
   * it costs nothing at rest. Shorter spreads faster and sends more, smaller packets.
   */
  readonly gossipIntervalMs: number;
  /**
   * Fan-out of each gossip round. Higher spreads faster (the epidemic grows by about this
   * factor per round) and multiplies the packets sent per round. 0 leaves probes alone to carry
   * gossip.
   */
  readonly gossipNodes: number;
  /**
   * Most gossip messages piggybacked on one ping, ping-req, ack or nack. Higher spreads news
   * faster and makes packets larger (an alive message carries the member's metadata).
   */
  readonly maxPiggyback: number;
  /** Bound on a member's metadata (region, tags, addresses) as JSON. Larger claims are refused. */
  readonly maxMetaBytes: number;
  /** Bound on the member table, so a peer cannot grow it without limit. Joins beyond it are refused. */
  readonly maxMembers: number;
  /** Bound on ping-reqs we relay at once; more are refused (a peer cannot make us amplify without limit). */
  readonly maxPendingRelays: number;
}

/** Defaults for a LAN or one data centre (memberlist DefaultLANConfig). */
export const LAN_PROFILE: MembershipConfig = Object.freeze({
  /** One probe per second: detection in seconds for one ping and one ack per member per second. */
  probeIntervalMs: 1_000,
  /** Well above a LAN's RTT tail (< 10 ms), below half the period so the indirect probe fits. */
  probeTimeoutMs: 500,
  /**
   * Two smoothed round trips plus four deviations: the time an indirect probe needs (two
   * hops), so the period never stretches on an idle WAN (172 ms round trips give about 470 ms,
   * under the 500 ms floor) and stretches under load, when round trips swell and wobble; a
   * direct ack still counts until the end of the period, twice the timeout. On a LAN: the floor.
   */
  rttTimeoutMult: 2,
  /** Above any real round trip (even satellite), far below the suspicion timeouts. */
  maxProbeTimeoutMs: 5_000,
  /** Three independent routes: a false suspicion needs four lost paths at once. */
  indirectChecks: 3,
  /**
   * Two: a member stalled for longer than one probe (2–3 s event-loop stalls were measured on
   * loaded agents across the emulated WAN) is not suspected unless it stays silent through a
   * second one; a crashed process is found by its lost connection, after one.
   */
  probeAttempts: 2,
  /** N = 10: min 4 s, max 24 s; N = 100: min 8 s, max 48 s. */
  suspicionMult: 4,
  /**
   * N = 3: 2 s (log scaling gives 1.9 s) instead of memberlist's 4 s; N = 5: 2.8 s; N ≥ 10 as
   * memberlist. Ten gossip rounds: a refutation crosses the widest WAN here (172 ms round
   * trips) several times over.
   */
  suspicionFloorMs: 2_000,
  /** Six times min when nobody confirms; two confirmations (k = 2) bring it down to min. */
  suspicionMaxTimeoutMult: 6,
  /** 8 sends per relaying member up to N = 99: every member hears with high probability. */
  retransmitMult: 4,
  /** Up to 8× slower probing for a member that misses its own acks. */
  awarenessMaxMultiplier: 8,
  /**
   * 30 periods: far longer than any gossip message survives (λ·log N sends at ≥ 1 per period).
   * Dead members keep receiving gossip for this long, so a member wrongly declared dead hears
   * it and refutes (memberlist's GossipToTheDeadTime).
   */
  deadRetentionMs: 30_000,
  /** Five rounds a second: news crosses a LAN cluster of 100 in well under a second. */
  gossipIntervalMs: 200,
  /** Three new members per round per holder: the epidemic triples every 200 ms. */
  gossipNodes: 3,
  /** Enough for a burst of changes in one packet; an alive message is ~100 bytes plus metadata. */
  maxPiggyback: 8,
  /** Region, a few tags and some multiaddrs. */
  maxMetaBytes: 2_048,
  maxMembers: 10_000,
  maxPendingRelays: 256,
});

/**
 * Defaults across regions (memberlist DefaultWANConfig): WAN round trips are 150–300 ms and
 * lossier, so probes are slower and more patient, and suspicion lasts longer.
 */
export const WAN_PROFILE: MembershipConfig = Object.freeze({
  ...LAN_PROFILE,
  /** One probe per 5 s: inter-region bandwidth costs money and failures there are rarer. */
  probeIntervalMs: 5_000,
  /** Ten times the worst inter-region RTT in DESIGN.md (172 ms): congestion is not failure. */
  probeTimeoutMs: 3_000,
  /** N = 10: min 30 s, max 180 s. Refutation has to cross oceans and lossy links. */
  suspicionMult: 6,
  /** memberlist's six periods for every N ≤ 10, as before the floor existed. */
  suspicionFloorMs: 30_000,
  /** 60 s: slower gossip (5 s periods) may carry stale claims for longer. */
  deadRetentionMs: 60_000,
  /** Fewer, fuller packets across regions; still far faster than any WAN suspicion (≥ 30 s). */
  gossipIntervalMs: 500,
  /** One more than on a LAN, to offset the higher loss of long paths. */
  gossipNodes: 4,
});

export type MembershipProfile = 'lan' | 'wan';

export function membershipProfile(name: MembershipProfile): MembershipConfig {
  return name === 'wan' ? WAN_PROFILE : LAN_PROFILE;
}

/**
 * The most of the time left in the period after the direct ping times out that a relay waits
 * for the target before it nacks (less when a round trip to the helpers is longer than the
 * rest: relays.ts, relayTimeoutMs). The rest leaves room for the nack to travel back before
 * the period ends, so a healthy asker counts every nack (memberlist relays wait a whole probe
 * timeout, which lands their nacks after the asker's deadline with the default LAN settings).
 */
export const RELAY_TIMEOUT_SHARE = 0.8;

interface Bound {
  readonly min: number;
  readonly max: number;
}

const BOUNDS: Readonly<Record<keyof MembershipConfig, Bound>> = {
  probeIntervalMs: { min: 10, max: 600_000 },
  probeTimeoutMs: { min: 1, max: 600_000 },
  rttTimeoutMult: { min: 0, max: 20 },
  maxProbeTimeoutMs: { min: 1, max: 600_000 },
  indirectChecks: { min: 0, max: 16 },
  probeAttempts: { min: 1, max: 10 },
  suspicionMult: { min: 1, max: 100 },
  suspicionFloorMs: { min: 0, max: 3_600_000 },
  suspicionMaxTimeoutMult: { min: 1, max: 100 },
  retransmitMult: { min: 1, max: 100 },
  awarenessMaxMultiplier: { min: 1, max: 64 },
  deadRetentionMs: { min: 0, max: 86_400_000 },
  gossipIntervalMs: { min: 10, max: 600_000 },
  gossipNodes: { min: 0, max: 64 },
  maxPiggyback: { min: 0, max: 256 },
  maxMetaBytes: { min: 16, max: 65_536 },
  maxMembers: { min: 2, max: 1_000_000 },
  maxPendingRelays: { min: 0, max: 100_000 },
};

/**
 * Fills unset fields from `base` (the LAN profile by default) and validates. Throws a
 * SmacError (INVALID_ARGUMENT) naming every bad field and what would be valid.
 */
export function resolveMembershipConfig(
  overrides: Readonly<Record<string, unknown>> = {},
  base: MembershipConfig = LAN_PROFILE,
): MembershipConfig {
  const problems: string[] = [];
  const out: Record<string, number> = {};
  for (const key of Object.keys(overrides)) {
    if (!(key in BOUNDS)) problems.push(`unknown setting ${JSON.stringify(key)}`);
  }
  for (const key of Object.keys(BOUNDS) as (keyof MembershipConfig)[]) {
    const raw = overrides[key] ?? base[key];
    const { min, max } = BOUNDS[key];
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) {
      problems.push(`${key} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
      continue;
    }
    out[key] = raw;
  }
  const config = out as unknown as MembershipConfig;
  if (problems.length === 0 && config.probeTimeoutMs >= config.probeIntervalMs) {
    problems.push(
      `probeTimeoutMs (${config.probeTimeoutMs}) must be less than probeIntervalMs (${config.probeIntervalMs}): ` +
        'the indirect probe runs in the rest of the period; raise the interval or lower the timeout',
    );
  }
  if (problems.length === 0 && config.maxProbeTimeoutMs < config.probeTimeoutMs) {
    problems.push(
      `maxProbeTimeoutMs (${config.maxProbeTimeoutMs}) must be at least probeTimeoutMs (${config.probeTimeoutMs}): ` +
        'it caps the adaptive timeout, whose floor is probeTimeoutMs',
    );
  }
  if (problems.length > 0) {
    fail(ErrorCode.InvalidArgument, `Invalid membership configuration: ${problems.join('; ')}.`, {
      problems,
    });
  }
  return Object.freeze(config);
}

// ---- derived quantities ---------------------------------------------------------------

/**
 * The floor of a suspicion, for a cluster of `n` live members (self included): Lifeguard's
 * log N scaling, down to suspicionFloorMs (memberlist stops it at log10 N = 1 instead).
 */
export function suspicionMinMs(config: MembershipConfig, n: number): number {
  const scaled = Math.floor(config.suspicionMult * Math.log10(Math.max(1, n)) * config.probeIntervalMs);
  return Math.max(config.suspicionFloorMs, scaled);
}

/** The start of a suspicion nobody has confirmed yet. */
export function suspicionMaxMs(config: MembershipConfig, n: number): number {
  return config.suspicionMaxTimeoutMult * suspicionMinMs(config, n);
}

/**
 * k: the confirmations that drive a suspicion to its floor. Lifeguard picks it so that the
 * floor is reached two periods short of what suspicionMult periods of probing would give. A
 * cluster too small to supply k other confirmers expects all it has: the N − 2 members other
 * than the accuser and the accused (memberlist expects none, so in a cluster of three a lone
 * accuser's suspicion ran out at the floor, and one unlucky run of lost refutations made a
 * live member dead; docs/membership.md, "Departures").
 */
export function confirmationsWanted(config: MembershipConfig, n: number): number {
  return Math.max(0, Math.min(config.suspicionMult - 2, n - 2));
}

/**
 * Lifeguard's suspicion timeout after `confirmations` independent confirmations (memberlist
 * remainingSuspicionTime, before subtracting the elapsed time): log-scaled so that the first
 * confirmations count most.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, k: number, confirmations: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(Math.min(confirmations, k) + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/** How many times each member sends a piggybacked message (λ · ceil(log10(N + 1))). */
export function retransmitLimit(config: MembershipConfig, n: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(Math.max(1, n) + 1));
}

/**
 * An upper bound on the time from a member's crash until every other member has declared it
 * dead, for a cluster of `n` members (the crashed one included) which nobody joins meanwhile,
 * whose members have health score `healthScore` or better.
 *
 * Each member reaches any given target within 2(N − 1) − 1 periods of round-robin probing
 * (the target first in one shuffled round and last in the next), its probe fails one period
 * later and each further attempt (probeAttempts) one more, its own suspicion runs out at most
 * max(N) after that, and the last-chance ping then waits one probe timeout. Gossip only makes this sooner: a suspicion heard earlier expires
 * earlier, confirmations shorten it and a dead message ends it. `tickGranularityMs` is the
 * lateness of the agent's ticks, which can stretch every period and both final waits.
 */
export function detectionBoundMs(
  config: MembershipConfig,
  n: number,
  tickGranularityMs = 0,
  healthScore = 0,
): number {
  const scale = Math.min(Math.max(0, healthScore), config.awarenessMaxMultiplier - 1) + 1;
  const periods = 2 * Math.max(1, n - 1) + config.probeAttempts - 1;
  return (
    periods * (config.probeIntervalMs * scale + tickGranularityMs) +
    suspicionMaxMs(config, n) +
    config.probeTimeoutMs * scale +
    2 * tickGranularityMs
  );
}
