/**
 * clock_adjtime(2), with the struct timex encoded and decoded here in TypeScript so the rules of
 * each field (units, scaling, which mode bit covers which field) are unit-testable without
 * touching a clock. The addon only makes the call (native/src/clock.cc, which checks this layout
 * at compile time). Linux LP64 (x86-64, arm64): every `long` is 8 bytes.
 */
import { addon } from "./addon.ts";

/** Byte offsets of struct timex's fields (<sys/timex.h>, LP64); native/src/clock.cc asserts them. */
export const TIMEX_LAYOUT = {
  size: 208,
  modes: 0,
  offset: 8,
  freq: 16,
  maxerror: 24,
  esterror: 32,
  status: 40,
  constant: 48,
  precision: 56,
  tolerance: 64,
  timeSec: 72,
  timeUsec: 80,
  tick: 88,
  tai: 160,
} as const;

/** `modes` bits (<linux/timex.h>). */
export const ADJ_OFFSET = 0x0001;
export const ADJ_FREQUENCY = 0x0002;
export const ADJ_MAXERROR = 0x0004;
export const ADJ_ESTERROR = 0x0008;
export const ADJ_STATUS = 0x0010;
export const ADJ_TIMECONST = 0x0020;
export const ADJ_SETOFFSET = 0x0100;
export const ADJ_NANO = 0x2000;

/** `status` bits. */
export const STA_PLL = 0x0001;
export const STA_INS = 0x0010;
export const STA_DEL = 0x0020;
export const STA_UNSYNC = 0x0040;
export const STA_FREQHOLD = 0x0080;
export const STA_NANO = 0x2000;

/** The clock ids the service uses. */
export const CLOCK_REALTIME = 0;

/** The return values of clock_adjtime: the clock's state. */
export const TIME_STATES = ["ok", "insert", "delete", "oop", "wait", "error"] as const;
export type TimeState = (typeof TIME_STATES)[number];

/** The kernel's frequency unit: ppm scaled by 2^16 ("scaled ppm"). */
export const FREQ_SCALE = 65536;
/** The kernel's limit on ADJ_OFFSET: ±0.5 s (MAXPHASE); larger offsets are clamped, not refused. */
export const MAX_SLEW_OFFSET_SECONDS = 0.5;
/** The kernel's limit on ADJ_FREQUENCY: ±500 ppm (MAXFREQ). */
export const MAX_FREQUENCY_PPM = 500;
/** The kernel's ceiling for maxerror and esterror: 16 s (NTP_PHASE_LIMIT), in µs. */
export const MAX_ERROR_US = 16_000_000;

/** What to ask of clock_adjtime; absent fields leave the kernel's value alone (their mode bit unset). */
export interface TimexRequest {
  /** ADJ_OFFSET|ADJ_NANO: a slew of this many seconds (|x| ≤ 0.5). */
  readonly slewSeconds?: number;
  /** ADJ_FREQUENCY: the frequency correction, ppm (|x| ≤ 500). */
  readonly frequencyPpm?: number;
  /** ADJ_MAXERROR, seconds (sent in µs, capped at 16 s). */
  readonly maxErrorSeconds?: number;
  /** ADJ_ESTERROR, seconds. */
  readonly estErrorSeconds?: number;
  /** ADJ_STATUS: the whole status word. */
  readonly status?: number;
  /** ADJ_TIMECONST: the PLL's time constant (0: the fastest slew). */
  readonly constant?: number;
  /** ADJ_SETOFFSET|ADJ_NANO: add this many seconds to the clock at once (a step). */
  readonly stepSeconds?: number;
}

/** What clock_adjtime returned: the kernel's view of the clock. */
export interface TimexReadout {
  readonly state: TimeState;
  readonly status: number;
  readonly offsetSeconds: number;
  readonly frequencyPpm: number;
  readonly maxErrorSeconds: number;
  readonly estErrorSeconds: number;
  readonly constant: number;
  /** Whether STA_UNSYNC is clear: what adjtimex-style tools and timedatectl read as synchronised. */
  readonly synchronised: boolean;
}

/** An impossible request: a value the kernel would reject or silently clamp. */
export class TimexEncodeError extends Error {
  readonly code = "PADDOCK_E_CLOCK_BAD_REQUEST";
  constructor(message: string) {
    super(message);
    this.name = "TimexEncodeError";
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new TimexEncodeError(what);
}

/** Encodes a request as the 208 bytes of struct timex (little-endian, the host's order on x86-64 and arm64). */
export function encodeTimex(req: TimexRequest): Uint8Array {
  const buf = new Uint8Array(TIMEX_LAYOUT.size);
  const v = new DataView(buf.buffer);
  let modes = 0;
  const L = TIMEX_LAYOUT;
  const long = (at: number, n: number) => v.setBigInt64(at, BigInt(n), true);
  if (req.slewSeconds !== undefined) {
    check(Number.isFinite(req.slewSeconds) && Math.abs(req.slewSeconds) <= MAX_SLEW_OFFSET_SECONDS, `a slew of ${req.slewSeconds} s is beyond the kernel's ±${MAX_SLEW_OFFSET_SECONDS} s`);
    modes |= ADJ_OFFSET | ADJ_NANO;
    long(L.offset, Math.round(req.slewSeconds * 1e9));
  }
  if (req.frequencyPpm !== undefined) {
    check(Number.isFinite(req.frequencyPpm) && Math.abs(req.frequencyPpm) <= MAX_FREQUENCY_PPM, `a frequency of ${req.frequencyPpm} ppm is beyond ±${MAX_FREQUENCY_PPM} ppm`);
    modes |= ADJ_FREQUENCY;
    long(L.freq, Math.round(req.frequencyPpm * FREQ_SCALE));
  }
  for (const [field, mode, at] of [
    ["maxErrorSeconds", ADJ_MAXERROR, L.maxerror],
    ["estErrorSeconds", ADJ_ESTERROR, L.esterror],
  ] as const) {
    const s = req[field];
    if (s === undefined) continue;
    check(Number.isFinite(s) && s >= 0, `${field} ${s} is not a non-negative number of seconds`);
    modes |= mode;
    long(at, Math.min(MAX_ERROR_US, Math.round(s * 1e6)));
  }
  if (req.status !== undefined) {
    check(Number.isInteger(req.status) && req.status >= 0 && req.status <= 0xffff, `status ${req.status} is not a 16-bit word`);
    modes |= ADJ_STATUS;
    v.setInt32(L.status, req.status, true);
  }
  if (req.constant !== undefined) {
    check(Number.isInteger(req.constant) && req.constant >= 0 && req.constant <= 10, `time constant ${req.constant} is not 0–10`);
    modes |= ADJ_TIMECONST;
    long(L.constant, req.constant);
  }
  if (req.stepSeconds !== undefined) {
    check(Number.isFinite(req.stepSeconds) && req.stepSeconds !== 0, `a step of ${req.stepSeconds} s is not a non-zero number`);
    check(req.slewSeconds === undefined, "a step and a slew cannot be asked in one call");
    modes |= ADJ_SETOFFSET | ADJ_NANO;
    // The kernel wants a normalized timeval: whole seconds (floor) and 0 ≤ nanoseconds < 1e9.
    const totalNs = BigInt(Math.round(req.stepSeconds * 1e9));
    let sec = totalNs / 1_000_000_000n;
    let ns = totalNs % 1_000_000_000n;
    if (ns < 0n) {
      ns += 1_000_000_000n;
      sec -= 1n;
    }
    v.setBigInt64(L.timeSec, sec, true);
    v.setBigInt64(L.timeUsec, ns, true);
  }
  v.setUint32(L.modes, modes, true);
  return buf;
}

/** The `modes` word of an encoded request. */
export function timexModes(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(TIMEX_LAYOUT.modes, true);
}

/** Decodes what the kernel wrote back, with the call's return value. */
export function decodeTimex(buf: Uint8Array, ret: number): TimexReadout {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const L = TIMEX_LAYOUT;
  const long = (at: number) => Number(v.getBigInt64(at, true));
  const status = v.getInt32(L.status, true);
  // STA_NANO says whether `offset` is in ns or µs.
  const offsetUnit = status & STA_NANO ? 1e-9 : 1e-6;
  return {
    state: TIME_STATES[ret] ?? "error",
    status,
    offsetSeconds: long(L.offset) * offsetUnit,
    frequencyPpm: long(L.freq) / FREQ_SCALE,
    maxErrorSeconds: long(L.maxerror) / 1e6,
    estErrorSeconds: long(L.esterror) / 1e6,
    constant: long(L.constant),
    synchronised: (status & STA_UNSYNC) === 0,
  };
}

/**
 * Calls clock_adjtime(clockId, req). With an empty request (`{}`: modes 0) it only reads. Throws
 * a NativeError (EPERM without CAP_SYS_TIME, EINVAL for a value the kernel refuses).
 */
export function clockAdjtime(clockId: number, req: TimexRequest): TimexReadout {
  const buf = encodeTimex(req);
  const ret = addon().clockAdjtime(clockId, buf);
  return decodeTimex(buf, ret);
}
