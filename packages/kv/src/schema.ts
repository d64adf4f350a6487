/**
 * Service schemas: for each path a service may use, who writes it, whether the calf may read it,
 * how its value is validated and how large it may be. The schema is the security boundary of a
 * calf: it can change on the host only what its schema lets it write, with values that pass.
 */
import type { Validator } from "./validators.ts";

/** Who may write a path: the priv (and operators), or the calf. */
export type Writer = "priv" | "calf";

/** The rights of a connection: a calf of the service, the priv itself, or an operator. */
export type Role = "calf" | "priv" | "admin";

/**
 * One declared path pattern. Patterns are "/ip", "/nameserver/*" (one segment; `wildcard`
 * constrains it) or "/state/**" (one or more segments).
 */
export interface SchemaEntry {
  pattern: string;
  /** What the key means, for docs and `paddock kv ls`. */
  description: string;
  writer: Writer;
  /** Whether a calf may read the key. Lease keys are write-only for the calf, as in the original design. */
  calfReads: boolean;
  validate: Validator;
  /** Largest value in bytes (UTF-8). */
  maxBytes: number;
  /** For "*" and "**" patterns: at most this many keys may exist at once. */
  maxKeys?: number;
  /** For "*" patterns: what the variable segment must look like. */
  wildcard?: RegExp;
}

/** A service's schema. */
export interface ServiceSchema {
  name: string;
  description: string;
  entries: readonly SchemaEntry[];
  /** Bound on the sum of all values' sizes, so a calf cannot grow the store file without limit. */
  maxTotalBytes: number;
}

/** Finds the entry a path belongs to, or undefined when the schema does not declare it. */
export function matchEntry(schema: ServiceSchema, segments: readonly string[]): SchemaEntry | undefined {
  return schema.entries.find((e) => matchesPattern(e, segments));
}

/** Whether `segments` matches the entry's pattern. */
export function matchesPattern(entry: SchemaEntry, segments: readonly string[]): boolean {
  const pattern = entry.pattern.split("/").filter((s) => s.length > 0);
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === "**") return i === pattern.length - 1 && segments.length > i;
    const s = segments[i];
    if (s === undefined) return false;
    if (p === "*") {
      if (entry.wildcard && !entry.wildcard.test(s)) return false;
    } else if (p !== s) {
      return false;
    }
  }
  return segments.length === pattern.length;
}

/** A schema is checked once when it is registered: patterns well formed, limits positive. */
export function checkSchema(schema: ServiceSchema): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of schema.entries) {
    if (!e.pattern.startsWith("/")) problems.push(`${e.pattern}: a pattern starts with '/'`);
    if (seen.has(e.pattern)) problems.push(`${e.pattern}: declared twice`);
    seen.add(e.pattern);
    const parts = e.pattern.split("/").filter(Boolean);
    if (parts.slice(0, -1).includes("**")) problems.push(`${e.pattern}: '**' may only end a pattern`);
    if ((parts.includes("*") || parts.includes("**")) && !(e.maxKeys && e.maxKeys > 0)) {
      problems.push(`${e.pattern}: a wildcard pattern needs maxKeys`);
    }
    if (!(e.maxBytes > 0)) problems.push(`${e.pattern}: maxBytes must be positive`);
  }
  return problems;
}
