/**
 * Service schemas: for each path a service may use, who writes it, whether the calf may read it,
 * how its value is parsed and how large it may be. The schema is the security boundary of a
 * calf: it can change on the host only what its schema lets it write, with values that parse.
 *
 * A schema declared with `defineSchema` also gives typed keys (`schema.keys.ip`, a
 * `SchemaKey<Ipv4Cidr>`), derived from the same declaration, which handlers read from the store's
 * parsed values with `readKey` / `readKeys`: the key contract is written once.
 */
import type { ParsedValue, Validator } from "./validators.ts";

/** Who may write a path: the priv (and operators), or the calf. */
export type Writer = "priv" | "calf";

/** The rights of a connection: a calf of the service, the priv itself, or an operator. */
export type Role = "calf" | "priv" | "admin";

/**
 * One declared path pattern. Patterns are "/ip", "/nameserver/*" (one segment; `wildcard`
 * constrains it) or "/state/**" (one or more segments).
 */
export interface SchemaEntry<T = unknown> {
  pattern: string;
  /** What the key means, for docs and `paddock kv ls`. */
  description: string;
  writer: Writer;
  /** Whether a calf may read the key. Lease keys are write-only for the calf, as in the original design. */
  calfReads: boolean;
  /** Parses the value's canonical text; the store keeps what it returns (`KvStore.parsed`). */
  validate: Validator<T>;
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
  /**
   * Bound on the size of the store file as written (keys, values as JSON with their escapes, and
   * the file's framing; see `storeFileBytes`), so a calf cannot grow the file, nor what each
   * commit makes the priv rewrite, beyond it.
   */
  maxTotalBytes: number;
}

/** Finds the entry a path belongs to, or undefined when the schema does not declare it. */
export function matchEntry(schema: ServiceSchema, segments: readonly string[]): SchemaEntry | undefined {
  return schema.entries.find((e) => matchesPattern(e, segments));
}

/**
 * Whether a calf may watch `prefix`: at least one declared key lies at or under it, and every
 * declared key that could (its pattern at or under the prefix, or the prefix inside a wildcard
 * pattern) is calf-readable. So a calf can wait for what the priv or an operator writes for it
 * (`/control`), never watch keys it may not read.
 */
export function calfMayWatch(schema: ServiceSchema, prefix: readonly string[]): boolean {
  const overlapping = schema.entries.filter((e) => {
    const pattern = e.pattern.split("/").filter((s) => s.length > 0);
    for (let i = 0; i < Math.min(pattern.length, prefix.length); i++) {
      if (pattern[i] === "**") return true;
      if (pattern[i] !== "*" && pattern[i] !== prefix[i]) return false;
    }
    return true;
  });
  return overlapping.length > 0 && overlapping.every((e) => e.calfReads);
}

/** Whether `segments` matches the entry's pattern. */
export function matchesPattern(entry: Pick<SchemaEntry, "pattern" | "wildcard">, segments: readonly string[]): boolean {
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

declare const keyValue: unique symbol;

/** A typed single key ("/ip"): its parsed value has type T. */
export interface SchemaKey<T> {
  readonly kind: "key";
  readonly path: string;
  /** Type only: the parsed value's type. */
  readonly [keyValue]?: T;
}

/** A typed wildcard key ("/nameserver/*", "/state/**"): every matching key's parsed value has type T. */
export interface SchemaKeyList<T> {
  readonly kind: "list";
  readonly pattern: string;
  readonly wildcard?: RegExp;
  /** Type only: the parsed values' type. */
  readonly [keyValue]?: T;
}

/**
 * A typed key by hand. The type is the caller's word: prefer the keys `defineSchema` derives from
 * the entries' parsers, which cannot disagree with them.
 */
export function schemaKey<T>(path: string): SchemaKey<T> {
  return Object.freeze({ kind: "key", path });
}

/** A typed wildcard key by hand (see `schemaKey`). */
export function schemaKeyList<T>(pattern: string, wildcard?: RegExp): SchemaKeyList<T> {
  return Object.freeze(wildcard === undefined ? { kind: "list", pattern } : { kind: "list", pattern, wildcard });
}

/** A parsed value (as `KvStore.parsed` holds it) of a single key, or undefined when the key is not set. */
export function readKey<T>(parsed: ReadonlyMap<string, unknown>, key: SchemaKey<T>): T | undefined {
  return parsed.get(key.path) as T | undefined;
}

/** The parsed values of every key matching a wildcard key, in path order ("/nameserver/001" first). */
export function readKeys<T>(parsed: ReadonlyMap<string, unknown>, key: SchemaKeyList<T>): T[] {
  return readKeyEntries(parsed, key).map(([, v]) => v);
}

/** Like `readKeys`, with each value's path. */
export function readKeyEntries<T>(parsed: ReadonlyMap<string, unknown>, key: SchemaKeyList<T>): [string, T][] {
  // Only keys under the pattern's literal prefix can match; the rest is the schema's own matcher.
  const star = key.pattern.indexOf("*");
  const prefix = star < 0 ? key.pattern : key.pattern.slice(0, star);
  const found: [string, T][] = [];
  for (const [path, value] of parsed) {
    if (!path.startsWith(prefix)) continue;
    if (matchesPattern(key, path.split("/").filter((s) => s.length > 0))) found.push([path, value as T]);
  }
  return found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The typed key a declaration gives: a list for a wildcard pattern, a single key otherwise. */
export type KeyOf<E> = E extends { readonly pattern: infer P extends string; readonly validate: infer V }
  ? P extends `${string}*${string}`
    ? SchemaKeyList<ParsedValue<V>>
    : SchemaKey<ParsedValue<V>>
  : never;

/** A schema declared key by key: each key's entry under a name the handlers use. */
export interface SchemaDeclaration<K extends Record<string, SchemaEntry<any>>> {
  name: string;
  description: string;
  maxTotalBytes: number;
  /** The entries, named; their order is the order patterns are matched in. */
  keys: K;
}

/** A service schema together with its typed keys. */
export type DefinedSchema<K extends Record<string, SchemaEntry<any>>> = ServiceSchema & {
  readonly keys: { readonly [N in keyof K]: KeyOf<K[N]> };
};

/**
 * Declares a schema once: each key's pattern, writer, parser and limits, under a name. Gives the
 * `ServiceSchema` (entries in declaration order) and, from the same declarations, the typed keys
 * handlers read with `readKey` / `readKeys` — `keys.ip` is a `SchemaKey<Ipv4Cidr>` because `/ip`'s
 * parser returns an `Ipv4Cidr`.
 */
export function defineSchema<const K extends Record<string, SchemaEntry<any>>>(decl: SchemaDeclaration<K>): DefinedSchema<K> {
  const entries = Object.values(decl.keys) as SchemaEntry[];
  const keys: Record<string, SchemaKey<unknown> | SchemaKeyList<unknown>> = {};
  for (const [name, e] of Object.entries(decl.keys)) {
    keys[name] = e.pattern.includes("*") ? schemaKeyList(e.pattern, e.wildcard) : schemaKey(e.pattern);
  }
  return { name: decl.name, description: decl.description, maxTotalBytes: decl.maxTotalBytes, entries, keys: Object.freeze(keys) as DefinedSchema<K>["keys"] };
}
