/**
 * Source selection (RFC 5905 §11.2): the intersection algorithm separates truechimers from
 * falsetickers, clustering trims the truechimers that add most jitter, and combining averages
 * the rest into one offset.
 */

import { MAXDIST, NMIN } from "./constants.ts";

/** A source that passed the fit test, as selection sees it. */
export interface Candidate {
  readonly id: number;
  readonly offset: number;
  /** Root distance λ: the half-width of its correctness interval, seconds. */
  readonly rootDistance: number;
  readonly stratum: number;
  readonly jitter: number;
}

/** What selection decided. */
export interface Selection {
  /** Whether a majority of candidates agreed (otherwise nothing else here is meaningful). */
  readonly majority: boolean;
  readonly truechimers: readonly number[];
  readonly falsetickers: readonly number[];
  /** Truechimers kept by clustering, best first: the first is the system peer. */
  readonly survivors: readonly number[];
  /** The combined offset, seconds. */
  readonly offset: number;
  /** Selection jitter of the survivors around the system peer, seconds. */
  readonly selectionJitter: number;
}

/**
 * §11.2.1: the smallest interval that contains points of at least m − f correctness intervals,
 * with f falsetickers allowed, f < m/2. Truechimers are the candidates whose offset lies in it.
 */
export function intersect(cs: readonly Candidate[]): { low: number; high: number } | undefined {
  const m = cs.length;
  const edges: { edge: number; type: number }[] = [];
  for (const c of cs) {
    edges.push({ edge: c.offset - c.rootDistance, type: -1 }, { edge: c.offset, type: 0 }, { edge: c.offset + c.rootDistance, type: 1 });
  }
  edges.sort((a, b) => a.edge - b.edge || a.type - b.type);
  for (let allow = 0; 2 * allow < m; allow++) {
    let found = 0;
    let chime = 0;
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (const e of edges) {
      chime -= e.type;
      if (chime >= m - allow) {
        low = e.edge;
        break;
      }
      if (e.type === 0) found++;
    }
    chime = 0;
    for (let i = edges.length - 1; i >= 0; i--) {
      const e = edges[i]!;
      chime += e.type;
      if (chime >= m - allow) {
        high = e.edge;
        break;
      }
      if (e.type === 0) found++;
    }
    // More midpoints outside the interval than falsetickers allowed: allow one more.
    if (found > allow) continue;
    if (high > low) return { low, high };
  }
  return undefined;
}

/** The order of merit of §11.2.2: lower stratum first, then shorter root distance. */
const merit = (c: Candidate) => c.stratum * MAXDIST + c.rootDistance;

/**
 * Selection, clustering and combining. `previousPeer` (an id) stays the system peer while it
 * survives, so that the choice does not flap between equally good sources (§11.2.2).
 */
export function selectSources(cs: readonly Candidate[], previousPeer: number | undefined): Selection {
  const none: Selection = { majority: false, truechimers: [], falsetickers: [], survivors: [], offset: 0, selectionJitter: 0 };
  if (cs.length === 0) return none;
  const interval = intersect(cs);
  if (interval === undefined) return none;
  const truechimers = cs.filter((c) => c.offset >= interval.low && c.offset <= interval.high);
  const falsetickers = cs.filter((c) => !truechimers.includes(c)).map((c) => c.id);
  if (truechimers.length === 0) return { ...none, falsetickers };
  // §11.2.2: while more than NMIN remain, drop the one whose selection jitter is largest, unless
  // that is already below the smallest peer jitter (dropping it would not help).
  let survivors = [...truechimers].sort((a, b) => merit(a) - merit(b));
  while (survivors.length > NMIN) {
    let worst = 0;
    let worstJitter = -1;
    survivors.forEach((c, i) => {
      const sum = survivors.reduce((acc, d) => acc + (c.offset - d.offset) ** 2, 0);
      const phi = Math.sqrt(sum / (survivors.length - 1));
      if (phi > worstJitter) {
        worstJitter = phi;
        worst = i;
      }
    });
    const minPeerJitter = Math.min(...survivors.map((c) => c.jitter));
    if (worstJitter <= minPeerJitter) break;
    survivors = survivors.filter((_, i) => i !== worst);
  }
  const keep = survivors.findIndex((c) => c.id === previousPeer);
  if (keep > 0) survivors = [survivors[keep]!, ...survivors.filter((_, i) => i !== keep)];
  const { offset, selectionJitter } = combine(survivors, survivors[0]!);
  return {
    majority: true,
    truechimers: truechimers.map((c) => c.id),
    falsetickers,
    survivors: survivors.map((c) => c.id),
    offset,
    selectionJitter,
  };
}

/**
 * §11.2.3: the offsets of `cs` averaged with the reciprocal root distances as weights, and the
 * selection jitter: the same weighting of each offset's distance from `peer`'s.
 */
export function combine(cs: readonly Candidate[], peer: Candidate): { offset: number; selectionJitter: number } {
  let y = 0;
  let z = 0;
  let w = 0;
  for (const c of cs) {
    const x = Math.max(c.rootDistance, Number.MIN_VALUE);
    y += 1 / x;
    z += c.offset / x;
    w += (c.offset - peer.offset) ** 2 / x;
  }
  return { offset: z / y, selectionJitter: Math.sqrt(w / y) };
}
