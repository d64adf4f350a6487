/**
 * The text forms of the NTP service's values, shared by the calf (which writes them) and the
 * schema (whose parsers accept exactly these forms). Imports nothing, so the calf bundle can
 * hold it without any priv-side code.
 */

/** Fraction digits of a value in seconds: nanoseconds, the kernel's resolution (ADJ_NANO). */
export const SECONDS_DIGITS = 9;
/** Fraction digits of a frequency in ppm: 0.001 ppm, finer than the kernel's 2^-16 ppm matters. */
export const PPM_DIGITS = 3;

/** Canonical fixed-point text: `digits` fraction digits, no "+", no "-0.000…". */
export function formatFixed(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return /^-0\.0+$/.test(text) ? text.slice(1) : text;
}

/** Seconds as canonical text ("0.000123456", "-2.000000000"). */
export function formatSeconds(seconds: number): string {
  return formatFixed(seconds, SECONDS_DIGITS);
}

/** Parts per million as canonical text ("12.345"). */
export function formatPpm(ppm: number): string {
  return formatFixed(ppm, PPM_DIGITS);
}

/** The three-digit index of the n-th server or source key (0 → "000"). */
export function indexSegment(n: number): string {
  return String(n).padStart(3, "0");
}
