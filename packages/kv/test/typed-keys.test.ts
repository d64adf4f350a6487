/**
 * Typed keys: a schema declared once with defineSchema gives its entries and, from the same
 * declarations, keys whose value types are the parsers' (checked by the typecheck: expectTypeOf).
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import { dhcp4Schema } from "../../services/dhcp4/service/src/schema.ts";
import {
  checkSchema,
  defineSchema,
  intRange,
  ipv4Cidr,
  ipv4Route,
  ipv4Unicast,
  matchEntry,
  oneOf,
  readKey,
  readKeyEntries,
  readKeys,
  schemaKey,
  schemaKeyList,
  searchList,
  type Ipv4Cidr,
  type Ipv4Route,
  type Ipv4Unicast,
  type SchemaKey,
  type SchemaKeyList,
  type SearchList,
  type Validator,
} from "../src/index.ts";

const checkOnly: Validator = (v) => (v.length > 0 ? { ok: true } : { ok: false, reason: "empty" });

const schema = defineSchema({
  name: "t",
  description: "typed keys",
  maxTotalBytes: 1024,
  keys: {
    ip: { pattern: "/ip", description: "address", writer: "calf", calfReads: false, validate: ipv4Cidr, maxBytes: 18 },
    mtu: { pattern: "/mtu", description: "mtu", writer: "calf", calfReads: false, validate: intRange(68, 65535), maxBytes: 5 },
    mode: { pattern: "/mode", description: "mode", writer: "priv", calfReads: true, validate: oneOf("on", "off"), maxBytes: 3 },
    note: { pattern: "/note", description: "free text, checked only", writer: "priv", calfReads: true, validate: checkOnly, maxBytes: 30 },
    legacy: { pattern: "/legacy", description: "an inline check", writer: "priv", calfReads: true, validate: (v: string) => (v === "x" ? { ok: true as const } : { ok: false as const, reason: "not x" }), maxBytes: 1 },
    servers: { pattern: "/server/*", wildcard: /^[0-9]{3}$/, maxKeys: 4, description: "servers", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    routes: { pattern: "/route/*", maxKeys: 4, description: "routes", writer: "calf", calfReads: false, validate: ipv4Route, maxBytes: 34 },
    search: { pattern: "/search", description: "search", writer: "calf", calfReads: false, validate: searchList, maxBytes: 256 },
  },
});

const parsedOf = (o: Record<string, string>): Map<string, unknown> => {
  const m = new Map<string, unknown>();
  for (const [path, text] of Object.entries(o)) {
    const entry = matchEntry(schema, path.split("/").filter(Boolean))!;
    const r = entry.validate(text);
    if (!r.ok) throw new Error(r.reason);
    m.set(path, r.value ?? text);
  }
  return m;
};

describe("defineSchema", () => {
  it("gives the entries in declaration order, a valid schema", () => {
    expect(schema.entries.map((e) => e.pattern)).toEqual(["/ip", "/mtu", "/mode", "/note", "/legacy", "/server/*", "/route/*", "/search"]);
    expect(checkSchema(schema)).toEqual([]);
    expect(schema.keys.ip).toEqual({ kind: "key", path: "/ip" });
    expect(schema.keys.servers).toEqual({ kind: "list", pattern: "/server/*", wildcard: /^[0-9]{3}$/ });
  });

  it("types each key by its parser", () => {
    expectTypeOf(schema.keys.ip).toEqualTypeOf<SchemaKey<Ipv4Cidr>>();
    expectTypeOf(schema.keys.mtu).toEqualTypeOf<SchemaKey<number>>();
    expectTypeOf(schema.keys.mode).toEqualTypeOf<SchemaKey<"on" | "off">>();
    expectTypeOf(schema.keys.note).toEqualTypeOf<SchemaKey<unknown>>();
    expectTypeOf(schema.keys.legacy).toEqualTypeOf<SchemaKey<string>>();
    expectTypeOf(schema.keys.servers).toEqualTypeOf<SchemaKeyList<Ipv4Unicast>>();
    expectTypeOf(schema.keys.routes).toEqualTypeOf<SchemaKeyList<Ipv4Route>>();
    expectTypeOf(schema.keys.search).toEqualTypeOf<SchemaKey<SearchList>>();
    expectTypeOf(dhcp4Schema.keys.ip).toEqualTypeOf<SchemaKey<Ipv4Cidr>>();
    expectTypeOf(dhcp4Schema.keys.nameservers).toEqualTypeOf<SchemaKeyList<Ipv4Unicast>>();
    expectTypeOf(dhcp4Schema.keys.leaseExpires).toEqualTypeOf<SchemaKey<number>>();
  });

  it("reads single keys, and wildcard keys in path order, only those the pattern matches", () => {
    const parsed = parsedOf({
      "/ip": "10.0.0.5/24",
      "/mtu": "1400",
      "/note": "hello",
      "/legacy": "x",
      "/server/002": "10.0.0.54",
      "/server/001": "10.0.0.53",
      "/route/b": "10.0.0.0/8 10.0.0.1",
      "/route/a": "0.0.0.0/0 10.0.0.2",
    });
    parsed.set("/server/x", "not a server: the wildcard refuses the segment");
    parsed.set("/server/001/deeper", "not one segment");
    const ip = readKey(parsed, schema.keys.ip);
    expectTypeOf(ip).toEqualTypeOf<Ipv4Cidr | undefined>();
    expect(ip?.text).toBe("10.0.0.5/24");
    expect(readKey(parsed, schema.keys.mtu)).toBe(1400);
    expect(readKey(parsed, schema.keys.note)).toBe("hello");
    expect(readKey(parsed, schema.keys.legacy)).toBe("x");
    expect(readKey(parsed, schema.keys.mode)).toBeUndefined();
    expect(readKeys(parsed, schema.keys.servers)).toEqual(["10.0.0.53", "10.0.0.54"]);
    expect(readKeys(parsed, schema.keys.routes).map((r) => r.text)).toEqual(["0.0.0.0/0 10.0.0.2", "10.0.0.0/8 10.0.0.1"]);
    expect(readKeyEntries(parsed, schema.keys.servers).map(([p]) => p)).toEqual(["/server/001", "/server/002"]);
    expect(readKeys(new Map(), schema.keys.servers)).toEqual([]);
  });

  it("also makes keys by hand", () => {
    const k = schemaKey<number>("/mtu");
    const l = schemaKeyList<string>("/state/**");
    const parsed = new Map<string, unknown>([["/mtu", 9000], ["/state/a/b", "1"], ["/state/a", "0"], ["/statex", "no"]]);
    expect(readKey(parsed, k)).toBe(9000);
    expect(readKeys(parsed, l)).toEqual(["0", "1"]);
  });
});
