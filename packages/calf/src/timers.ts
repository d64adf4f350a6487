/**
 * Named timers at absolute times, as sans-IO protocol cores ask for them ("set t1 at …").
 * setTimeout cannot wait longer than 2^31−1 ms (24.8 days) — a DHCP lease can be longer — so long
 * waits are chained.
 */

/** The longest single setTimeout delay Node honours. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class Timers<Name extends string = string> {
  private readonly armed = new Map<Name, NodeJS.Timeout>();

  constructor(private readonly now: () => number = Date.now) {}

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
      this.armed.set(name, setTimeout(wait, Math.min(delay, MAX_TIMEOUT_MS)));
    };
    this.armed.set(name, setTimeout(wait, Math.max(0, Math.min(at - this.now(), MAX_TIMEOUT_MS))));
  }

  cancel(name: Name): void {
    clearTimeout(this.armed.get(name));
    this.armed.delete(name);
  }

  cancelAll(): void {
    for (const t of this.armed.values()) clearTimeout(t);
    this.armed.clear();
  }

  /** Names armed now. */
  get names(): Name[] {
    return [...this.armed.keys()];
  }
}
