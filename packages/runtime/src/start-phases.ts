/**
 * The priv's start-up phases before its logger exists: bin/paddock.mjs, the early calf start and
 * the CLI mark each step here (cheap: performance.now(), ms since the process started), and the
 * serving command logs them once it has a logger, as the debug "start-up phase" lines the service
 * host logs for its own steps (bench/dhcp.ts's profile reads both). Without them, the ~300 ms from
 * the process start to the host's first phase were one number (docs/performance.md, "Priv
 * start-up").
 *
 * The marks live on globalThis: bin/paddock.mjs (plain JavaScript), dist/early.mjs and the CLI's
 * chunks are separate bundles, each with its own copy of this module.
 */

/** The global the marks are kept under; bin/paddock.mjs pushes to the same array. */
export const START_PHASES_KEY = "__paddockStartPhases";

/** One step of the start: its name, and when it ended in ms since the process started. */
export interface StartPhase {
  readonly phase: string;
  readonly ms: number;
}

/** Upper bound on the marks kept: a start has about a dozen; a loop marking by mistake must not grow memory. */
const MAX_START_PHASES = 64;

function marks(): Array<[string, number]> {
  const g = globalThis as Record<string, unknown>;
  if (!Array.isArray(g[START_PHASES_KEY])) g[START_PHASES_KEY] = [];
  return g[START_PHASES_KEY] as Array<[string, number]>;
}

/** Marks the end of a start-up step named `phase`, now. */
export function markStartPhase(phase: string): void {
  const all = marks();
  if (all.length < MAX_START_PHASES) all.push([phase, performance.now()]);
}

/** The marks so far, in order, and forgets them (they are logged once). */
export function takeStartPhases(): StartPhase[] {
  const all = marks().splice(0);
  return all.map(([phase, ms]) => ({ phase, ms: Math.round(ms * 10) / 10 }));
}

/**
 * The fields of a deferred "start-up phase" line: `ms` since the process started, and `at`, the
 * wall-clock time the step ended (the line's own time is when it was logged, later).
 */
export function startPhaseFields(p: StartPhase): { phase: string; ms: number; at: number } {
  return { phase: p.phase, ms: p.ms, at: Math.round((performance.timeOrigin + p.ms) * 10) / 10 };
}

/** What logging the phases needs of a logger (pino's debug). */
export interface StartPhaseLog {
  debug(obj: object, msg: string): void;
}

/** Logs the marks so far as deferred "start-up phase" lines, once the command has its logger. */
export function logStartPhases(log: StartPhaseLog): void {
  for (const p of takeStartPhases()) log.debug(startPhaseFields(p), "start-up phase");
}

/** Logs a "start-up phase" line for a step that just ended (the service host's own steps). */
export function logStartPhase(log: StartPhaseLog, phase: string): void {
  log.debug({ phase, ms: Math.round(performance.now() * 10) / 10 }, "start-up phase");
}
