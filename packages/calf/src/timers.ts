/**
 * Named timers at absolute times, as sans-IO protocol cores ask for them ("set t1 at …").
 * setTimeout cannot wait longer than 2^31−1 ms (24.8 days) — a DHCP lease can be longer — so long
 * waits are chained.
 */

/** The longest single setTimeout delay Node honours. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Calls `fire` after `ms`; returns the cancel function (CalfHost.setTimer has this shape). */
export type ScheduleTimer = (ms: number, fire: () => void) => () => void;

/** The scheduler of the global `setTimeout` (every engine a calf runs on has one; runCalf passes its host's). */
const globalSchedule: ScheduleTimer = (ms, fire) => {
  const t = setTimeout(fire, ms);
  return () => clearTimeout(t);
};

export class Timers<Name extends string = string> {
  private readonly armed = new Map<Name, () => void>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly schedule: ScheduleTimer = globalSchedule,
  ) {}

  /** (Re)arms `name` to call `fire` at absolute time `at` (ms, the same clock as `now`). */
  set(name: Name, at: number, fire: () => void): void {
    this.cancel(name);
    const wait = () => {
      const delay = at - this.now();
      if (delay <= 0) {
        this.armed.delete(name);
        fire();
        return;
      }
      this.armed.set(name, this.schedule(Math.min(delay, MAX_TIMEOUT_MS), wait));
    };
    this.armed.set(name, this.schedule(Math.max(0, Math.min(at - this.now(), MAX_TIMEOUT_MS)), wait));
  }

  cancel(name: Name): void {
    this.armed.get(name)?.();
    this.armed.delete(name);
  }

  cancelAll(): void {
    for (const cancel of this.armed.values()) cancel();
    this.armed.clear();
  }

  /** Names armed now. */
  get names(): Name[] {
    return [...this.armed.keys()];
  }
}
