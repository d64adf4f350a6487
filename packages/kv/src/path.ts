/**
 * Validated KV paths. A path is a list of segments; its text form is "/a/b". Segments are short
 * identifiers so that paths read well in the audit log and can never smuggle separators or
 * control characters into a file name, a log line or a resolv.conf.
 */
import { MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_SEGMENT_BYTES } from "@paddock/protocol";

declare const kvPathBrand: unique symbol;
/** A path that passed parseKvPath: 0..MAX_PATH_DEPTH segments of [A-Za-z0-9_.-], no "." or "..". */
export type KvPath = string & { readonly [kvPathBrand]: true };

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Why a path was refused, or the path in its canonical text form. */
export type PathResult = { ok: true; path: KvPath; segments: string[] } | { ok: false; reason: string };

/** Validates segments (as they arrive on the wire) and gives the canonical text form. */
export function parseKvSegments(segments: readonly string[]): PathResult {
  if (segments.length > MAX_PATH_DEPTH) return { ok: false, reason: `path has ${segments.length} segments, limit ${MAX_PATH_DEPTH}` };
  for (const s of segments) {
    if (s.length === 0) return { ok: false, reason: "path has an empty segment" };
    if (s.length > MAX_SEGMENT_BYTES) return { ok: false, reason: `path segment longer than ${MAX_SEGMENT_BYTES} bytes` };
    if (!SEGMENT.test(s)) return { ok: false, reason: `path segment ${JSON.stringify(s)} may hold only letters, digits, '_', '.', '-' and must not start with '.' or '-'` };
  }
  const text = "/" + segments.join("/");
  if (text.length > MAX_PATH_BYTES) return { ok: false, reason: `path longer than ${MAX_PATH_BYTES} bytes` };
  return { ok: true, path: text as KvPath, segments: [...segments] };
}

/** Parses the text form "/a/b" (a leading slash is required; "/" is the root). */
export function parseKvPath(text: string): PathResult {
  if (!text.startsWith("/")) return { ok: false, reason: `path ${JSON.stringify(text)} must start with '/'` };
  const segments = text === "/" ? [] : text.slice(1).split("/");
  if (text.length > 1 && text.endsWith("/")) return { ok: false, reason: "path must not end with '/'" };
  return parseKvSegments(segments);
}

/** Whether `path` is `prefix` or below it ("/a" covers "/a" and "/a/b", not "/ab"). */
export function isUnder(path: string, prefix: string): boolean {
  return prefix === "/" || path === prefix || path.startsWith(prefix + "/");
}
