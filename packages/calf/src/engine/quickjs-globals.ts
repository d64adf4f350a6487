/**
 * The web-platform globals a calf bundle expects and QuickJS 2021-03-27 lacks: TextEncoder and
 * TextDecoder (UTF-8 only: what the KV protocol and capnp-ts use), AbortController, setTimeout,
 * clearTimeout, queueMicrotask, and console's error/warn/info/debug. The QuickJS build evaluates
 * this module before any other module of the calf (packages/bundler/src/bundle-quickjs.ts).
 *
 * What it does not add, and calf code must therefore not use, is listed in
 * docs/decisions/0010-quickjs-calf-engine.md (test/calf-quickjs-builtins.test.ts checks the bundles).
 */
import * as os from "quickjs:os";

/** U+FFFD, what a malformed UTF-8 sequence or a lone surrogate becomes. */
const REPLACEMENT = 0xfffd;

/** UTF-8 encoding of a string (WHATWG Encoding, "UTF-8 encode"): lone surrogates become U+FFFD. */
class Utf8Encoder {
  readonly encoding = "utf-8";
  encode(input = ""): Uint8Array {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else {
          c = REPLACEMENT;
        }
      }
      if (c < 0x80) out[n++] = c;
      else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 0x3f);
      } else if (c < 0x10000) {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      } else {
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 0x3f);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      }
    }
    return out.slice(0, n);
  }
}

/**
 * UTF-8 decoding (WHATWG Encoding, "UTF-8 decoder"): each maximal malformed subpart becomes one
 * U+FFFD, or, with `fatal`, a TypeError as Node throws. A leading BOM is dropped unless `ignoreBOM`.
 */
class Utf8Decoder {
  readonly encoding = "utf-8";
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    if (!/^\s*(utf-?8|unicode-1-1-utf-8)\s*$/i.test(String(label))) throw new RangeError(`TextDecoder: only UTF-8 is available on QuickJS, not ${JSON.stringify(label)}`);
    this.fatal = options.fatal === true;
    this.ignoreBOM = options.ignoreBOM === true;
  }
  decode(input?: ArrayBuffer | ArrayBufferView): string {
    const b =
      input === undefined ? new Uint8Array(0) : input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    const units: number[] = [];
    let out = "";
    let i = !this.ignoreBOM && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
    const bad = (): void => {
      if (this.fatal) throw new TypeError("The encoded data was not valid for encoding utf-8");
      units.push(REPLACEMENT);
    };
    while (i < b.length) {
      const c = b[i]!;
      let need = 0;
      let cp = 0;
      let lower = 0x80;
      let upper = 0xbf;
      if (c < 0x80) {
        units.push(c);
        i++;
      } else {
        if (c >= 0xc2 && c <= 0xdf) (need = 1), (cp = c & 0x1f);
        else if (c >= 0xe0 && c <= 0xef) (need = 2), (cp = c & 0x0f), (lower = c === 0xe0 ? 0xa0 : 0x80), (upper = c === 0xed ? 0x9f : 0xbf);
        else if (c >= 0xf0 && c <= 0xf4) (need = 3), (cp = c & 0x07), (lower = c === 0xf0 ? 0x90 : 0x80), (upper = c === 0xf4 ? 0x8f : 0xbf);
        else {
          bad();
          i++;
          continue;
        }
        i++;
        let ok = true;
        for (let k = 0; k < need; k++) {
          const d = b[i];
          if (d === undefined || d < lower || d > upper) {
            ok = false;
            break;
          }
          cp = (cp << 6) | (d & 0x3f);
          lower = 0x80;
          upper = 0xbf;
          i++;
        }
        if (!ok) bad();
        else if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else units.push(cp);
      }
      // Flushed in slices: String.fromCharCode takes its units as arguments.
      if (units.length >= 4096) out += String.fromCharCode(...units.splice(0));
    }
    return out + String.fromCharCode(...units);
  }
}

/** The default reason of an abort: Node's is a DOMException named AbortError. */
function abortError(): Error {
  const e = new Error("This operation was aborted");
  e.name = "AbortError";
  return e;
}

type AbortListener = (event: { type: "abort"; target: QuickjsAbortSignal }) => void;

/** The part of AbortSignal calves use: aborted, reason, onabort and "abort" listeners. */
class QuickjsAbortSignal {
  aborted = false;
  reason: unknown = undefined;
  onabort: AbortListener | null = null;
  private listeners: Array<{ fn: AbortListener; once: boolean }> = [];
  addEventListener(type: string, fn: AbortListener, options?: { once?: boolean } | boolean): void {
    if (type !== "abort" || this.listeners.some((l) => l.fn === fn)) return;
    this.listeners.push({ fn, once: typeof options === "object" && options.once === true });
  }
  removeEventListener(type: string, fn: AbortListener): void {
    if (type === "abort") this.listeners = this.listeners.filter((l) => l.fn !== fn);
  }
  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }
  /** Marks the signal aborted and calls its listeners once, in order (AbortController.abort). */
  abortWith(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason === undefined ? abortError() : reason;
    const event = { type: "abort" as const, target: this };
    const listeners = this.listeners;
    this.listeners = listeners.filter((l) => !l.once);
    this.onabort?.(event);
    for (const l of listeners) l.fn(event);
  }
}

class QuickjsAbortController {
  readonly signal = new QuickjsAbortSignal();
  abort(reason?: unknown): void {
    this.signal.abortWith(reason);
  }
}

/**
 * Timers, fired in the order of their deadlines as Node fires them. Each timer has its own engine
 * timer (the engine's monotonic clock decides when it is due), but QuickJS 2021-03-27 runs the
 * first expired engine timer in the order they were set: after a stall, a timer set early for
 * late would run before one set later for sooner. So when an engine timer fires, the pending timer
 * with the earliest deadline runs (deadlines are estimated on Date.now, which only a clock step
 * between two settings can misorder), and the one that fired runs on a later turn, after the
 * microtasks, as on Node. Handles are numbers, so clearing an unknown or fired one is a no-op.
 */
interface PendingTimer {
  readonly due: number;
  readonly seq: number;
  readonly fire: () => void;
  engine: os.Timer;
}
const timers = new Map<number, PendingTimer>();
let nextTimerId = 1;

const earlier = (a: PendingTimer, b: PendingTimer): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);

function armTimer(id: number, t: PendingTimer, delay: number): void {
  t.engine = os.setTimeout(() => {
    const self = timers.get(id);
    if (self === undefined) return;
    let firstId = id;
    let first = self;
    for (const [otherId, other] of timers) {
      if (earlier(other, first)) {
        firstId = otherId;
        first = other;
      }
    }
    timers.delete(firstId);
    if (firstId !== id) {
      os.clearTimeout(first.engine);
      armTimer(id, self, 0);
    }
    first.fire();
  }, delay);
}

function setTimeoutShim(fn: (...args: unknown[]) => void, ms = 0, ...args: unknown[]): number {
  const id = nextTimerId++;
  const delay = Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 0;
  const t: PendingTimer = { due: Date.now() + delay, seq: id, fire: () => fn(...args), engine: undefined as unknown as os.Timer };
  timers.set(id, t);
  armTimer(id, t, delay);
  return id;
}

function clearTimeoutShim(id: unknown): void {
  const t = timers.get(id as number);
  if (t === undefined) return;
  timers.delete(id as number);
  os.clearTimeout(t.engine);
}

const g = globalThis as unknown as Record<string, unknown>;
const define = (name: string, value: unknown): void => {
  if (g[name] === undefined) g[name] = value;
};
define("TextEncoder", Utf8Encoder);
define("TextDecoder", Utf8Decoder);
define("AbortController", QuickjsAbortController);
define("AbortSignal", QuickjsAbortSignal);
define("setTimeout", setTimeoutShim);
define("clearTimeout", clearTimeoutShim);
define("queueMicrotask", (fn: () => void) => void Promise.resolve().then(fn));
const consoleObject = g.console as Record<string, unknown>;
// QuickJS's console has log only (stdout); the rest goes to stderr like Node's, which the priv logs.
for (const level of ["error", "warn", "info", "debug", "trace"]) {
  if (typeof consoleObject[level] !== "function") {
    consoleObject[level] = (...args: unknown[]) => {
      const bytes = new Utf8Encoder().encode(`${args.map((a) => (typeof a === "string" ? a : a instanceof Error ? `${a.stack ?? a}` : JSON.stringify(a))).join(" ")}\n`);
      os.write(2, bytes.buffer as ArrayBuffer, 0, bytes.length);
    };
  }
}
