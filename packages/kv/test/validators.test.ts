import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  domainName,
  hasControlOrLineBreak,
  hostname,
  intRange,
  ipv4,
  ipv4Cidr,
  ipv4Network,
  ipv4Route,
  ipv4Unicast,
  ipv4Bits,
  ipv4NetworkContains,
  mac,
  oneOf,
  parseWith,
  searchList,
  stateText,
  type Ipv4Address,
  type Ipv4Cidr,
  type Ipv4Network,
  type Ipv4Route,
  type Validator,
} from "../src/index.ts";

const table: Array<[string, Validator, string[], string[]]> = [
  ["ipv4", ipv4, ["0.0.0.0", "10.0.0.1", "255.255.255.255", "192.168.1.254"], ["", "10.0.0", "10.0.0.1.2", "256.0.0.1", "010.0.0.1", "10.0.0.-1", " 10.0.0.1", "10.0.0.1\n", "1e1.0.0.1", "0x1.0.0.1", "１.0.0.1"]],
  ["ipv4Unicast", ipv4Unicast, ["10.0.0.53", "1.1.1.1", "223.255.255.254"], ["0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1", "999.1.1.1"]],
  ["ipv4Cidr", ipv4Cidr, ["10.1.2.3/24", "10.0.0.5/32", "172.16.0.9/1"], ["999.1.1.1/24", "10.1.2.3", "10.1.2.3/33", "10.1.2.3/0", "10.1.2.3/024", "10.1.2.3/24 ", "10.1.2.3/", "127.0.0.1/8"]],
  ["ipv4Network", ipv4Network, ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.128/25", "10.1.2.3/32"], ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0", "0.0.0.1/0"]],
  ["ipv4Route", ipv4Route, ["10.0.0.0/8 10.0.0.1", "0.0.0.0/0 192.168.1.1", "10.9.0.0/16 0.0.0.0"], ["10.0.0.0/8", "10.0.0.0/8  10.0.0.1", "10.0.0.1/8 10.0.0.1", "10.0.0.0/8 127.0.0.1", "10.0.0.0/8 10.0.0.1\n"]],
  ["mac", mac, ["02:77:f4:a9:18:e3", "00:00:00:00:00:00"], ["02:77:F4:A9:18:E3", "02-77-f4-a9-18-e3", "02:77:f4:a9:18", "02:77:f4:a9:18:e3:00", "0277f4a918e3"]],
  ["mtu", intRange(68, 65535), ["68", "1400", "1500", "65535"], ["67", "70000", "0", "-1", "01500", "1500.0", "1e3", "", " 1500"]],
  ["domainName", domainName, ["example.com", "lab.anc.test", "a", "_msdcs.example.com", "xn--bcher-kva.example", "a-b.c"], ["", "example.com.", "exa mple.com", "-a.com", "a-.com", "a..b", "evil.com\nnameserver 6.6.6.6", "evil.com\u2028x", "evil.com\u0085x", "é.com", "a".repeat(64) + ".com", ("a".repeat(60) + ".").repeat(5) + "com"]],
  ["searchList", searchList, ["example.com", "a.test b.test", "a b c d e f"], ["", "a  b", " a", "a b c d e f g", "a\tb", "a\nb", "a.test b.test\r\nnameserver 1.2.3.4"]],
  ["hostname", hostname, ["host", "host.example.com", "a".repeat(63)], ["a".repeat(65), "host name", "host\n"]],
  [
    "stateText",
    stateText,
    ["{\"lease\":1}", "", "aGVsbG8gd29ybGQ=", "café ✓ 名前", "{\"s\":\"a\\u0001b\\n\"}", " spaces  and\\tescapes "],
    ["a\u0000b", "multi\nline", "tab\there", "cr\r", "\u0001".repeat(100), "del\u007f", "c1\u0080", "nel\u0085", "ls\u2028", "ps\u2029", "aGVs\nbG8="],
  ],
];

describe("validators", () => {
  for (const [name, validate, good, bad] of table) {
    for (const v of good) it(`${name} accepts ${JSON.stringify(v)}`, () => expect(validate(v)).toMatchObject({ ok: true }));
    for (const v of bad) {
      it(`${name} refuses ${JSON.stringify(v.slice(0, 50))}`, () => {
        const r = validate(v);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(5);
      });
    }
  }

  it("never accepts a name or search list with a control character or line terminator", () => {
    const evil = fc.constantFrom("\n", "\r", "\u0000", "\u000b", "\u0085", "\u2028", "\u2029", "\u007f", "\t");
    fc.assert(
      fc.property(fc.string(), evil, fc.string(), (a, e, b) => {
        const v = a + e + b;
        expect(domainName(v).ok).toBe(false);
        expect(searchList(v).ok).toBe(false);
        expect(hostname(v).ok).toBe(false);
      }),
    );
  });

  it("accepts only values whose text form round-trips through their meaning (canonical)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        if (ipv4(s).ok) expect(s.split(".").map(Number).join(".")).toBe(s);
        if (intRange(0, 1e9)(s).ok) expect(String(Number(s))).toBe(s);
      }),
    );
    fc.assert(fc.property(fc.ipV4(), (a) => {
      expect(ipv4(a).ok).toBe(true);
    }));
  });

  it("detects line terminators beyond ASCII", () => {
    expect(hasControlOrLineBreak("a\u2029b")).toBe(true);
    expect(hasControlOrLineBreak("plain text")).toBe(false);
  });
});

// The rules the validators had before they became parsers, verbatim: parse(text).ok must agree
// with them on every input, and the reasons must stay the same sentences.
const old = (() => {
  type V = (v: string) => { ok: true } | { ok: false; reason: string };
  const OK = { ok: true } as const;
  const no = (reason: string) => ({ ok: false as const, reason });
  const q = (v: string) => JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
  const parse = (text: string): number | null => {
    const parts = text.split(".");
    if (parts.length !== 4) return null;
    let value = 0;
    for (const p of parts) {
      if (!DECIMAL_OCTET.test(p)) return null;
      const n = Number(p);
      if (n > 255) return null;
      value = value * 256 + n;
    }
    return value;
  };
  const ipv4: V = (v) => (parse(v) === null ? no(`${q(v)} is not an IPv4 address in dotted-quad form`) : OK);
  const ipv4Unicast: V = (v) => {
    const n = parse(v);
    if (n === null) return no(`${q(v)} is not an IPv4 address in dotted-quad form`);
    const first = n >>> 24;
    if (first === 0 || first === 127 || first >= 224) return no(`${v} is not a unicast host address`);
    return OK;
  };
  const ipv4Cidr: V = (v) => {
    const slash = v.indexOf("/");
    if (slash < 0) return no(`${q(v)} is not an address with a prefix length (like 10.0.0.5/24)`);
    const addr = ipv4Unicast(v.slice(0, slash));
    if (!addr.ok) return addr;
    const len = v.slice(slash + 1);
    if (!/^([1-9]|[12][0-9]|3[0-2])$/.test(len)) return no(`prefix length ${q(len)} is not 1–32`);
    return OK;
  };
  const ipv4Network: V = (v) => {
    const slash = v.indexOf("/");
    if (slash < 0) return no(`${q(v)} is not a network with a prefix length (like 10.0.0.0/8)`);
    const n = parse(v.slice(0, slash));
    const lenText = v.slice(slash + 1);
    if (n === null) return no(`${q(v.slice(0, slash))} is not an IPv4 address in dotted-quad form`);
    if (!/^(0|[1-9]|[12][0-9]|3[0-2])$/.test(lenText)) return no(`prefix length ${q(lenText)} is not 0–32`);
    const len = Number(lenText);
    const hostBits = len === 32 ? 0 : n % 2 ** (32 - len);
    if (hostBits !== 0) return no(`${v} has host bits set`);
    return OK;
  };
  const ipv4Route: V = (v) => {
    const parts = v.split(" ");
    if (parts.length !== 2) return no(`${q(v)} is not "network router" (like "10.0.0.0/8 10.0.0.1")`);
    const dst = ipv4Network(parts[0]!);
    if (!dst.ok) return dst;
    if (parts[1] === "0.0.0.0") return OK;
    return ipv4Unicast(parts[1]!);
  };
  const mac: V = (v) => (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v) ? OK : no(`${q(v)} is not a MAC address like 02:00:00:00:00:01 (lower case)`));
  const intRange = (min: number, max: number): V => (v) => {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(v)) return no(`${q(v)} is not a decimal integer`);
    const n = Number(v);
    return n >= min && n <= max ? OK : no(`${v} is outside ${min}–${max}`);
  };
  const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
  const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
  const domainName: V = (v) => {
    if (CONTROL.test(v)) return no("the name contains a control character or a line break");
    if (v.length === 0) return no("the name is empty");
    if (v.length > 253) return no(`the name is longer than 253 bytes`);
    for (const label of v.split(".")) {
      if (label.length === 0) return no(`${q(v)} has an empty label`);
      if (label.length > 63) return no(`${q(v)} has a label longer than 63 bytes`);
      if (!LABEL.test(label)) return no(`${q(v)} has a label with characters other than letters, digits, '-' and '_'`);
    }
    return OK;
  };
  const searchList: V = (v) => {
    if (CONTROL.test(v)) return no("the search list contains a control character or a line break");
    if (v.length > 256) return no(`the search list is longer than 256 bytes`);
    const names = v.split(" ");
    if (names.length > 6) return no(`the search list has ${names.length} names, limit 6`);
    for (const n of names) {
      const r = domainName(n);
      if (!r.ok) return r;
    }
    return OK;
  };
  const hostname: V = (v) => (v.length > 64 ? no(`the host name is longer than 64 bytes`) : domainName(v));
  const stateText: V = (v) => {
    const m = CONTROL.exec(v);
    if (!m) return OK;
    const name = `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    return no(`the value contains ${name} at character ${m.index}: state is printable text (binary state goes in base64)`);
  };
  return { ipv4, ipv4Unicast, ipv4Cidr, ipv4Network, ipv4Route, mac, mtu: intRange(68, 65535), domainName, searchList, hostname, stateText };
})();

/** Text that is often close to valid: pieces of addresses, prefixes, names and separators. */
const nearText = fc
  .array(
    fc.oneof(
      fc.constantFrom("0", "1", "10", "127", "224", "255", "256", "010", "32", "33", "24", "8", "0.0.0.0", "00"),
      fc.constantFrom(".", "/", " ", ":", "-", "_", "a", "Z", "ab", "f0", "\n", "\u2028", "é", "\u0000"),
      fc.integer({ min: 0, max: 300 }).map(String),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));
const macLower = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 7 }).map((b) => b.map((x) => x.toString(16).padStart(2, "0")).join(":"));
const macText = fc.oneof(macLower, fc.mixedCase(macLower));
const withPrefix = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 33 })).map(([a, n]) => `${a}/${n}`);
/** A network with its host bits cleared (most of the time valid). */
const networkText = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 })).map(([a, n]) => {
  const masked = n === 0 ? 0 : (a & ((0xffffffff << (32 - n)) >>> 0)) >>> 0;
  return `${[masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255].join(".")}/${n}`;
});
const routeText = fc.tuple(fc.oneof(networkText, withPrefix), fc.oneof(fc.ipV4(), fc.constant("0.0.0.0"))).map(([d, g]) => `${d} ${g}`);
const names = fc.array(fc.domain(), { minLength: 1, maxLength: 7 }).map((n) => n.join(" "));
const anyText = fc.oneof(nearText, fc.string({ maxLength: 40 }), fc.ipV4(), withPrefix, networkText, routeText, fc.domain(), names, macText, fc.integer({ min: 0, max: 70000 }).map(String));

/** The canonical text re-rendered from a parsed value, independently of the parsers. */
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const network = (n: Ipv4Network) => `${dotted(ipv4Bits(n.address))}/${n.prefixLength}`;
const rendered: Record<keyof typeof old, (value: any) => string> = {
  ipv4: (a: Ipv4Address) => dotted(ipv4Bits(a)),
  ipv4Unicast: (a: Ipv4Address) => dotted(ipv4Bits(a)),
  ipv4Cidr: (c: Ipv4Cidr) => `${dotted(ipv4Bits(c.address))}/${c.prefixLength}`,
  ipv4Network: network,
  ipv4Route: (r: Ipv4Route) => `${network(r.destination)} ${r.gateway === null ? "0.0.0.0" : dotted(ipv4Bits(r.gateway))}`,
  mac: (m: string) => m,
  mtu: (n: number) => String(n),
  domainName: (d: string) => d,
  searchList: (l: readonly string[]) => l.join(" "),
  hostname: (h: string) => h,
  stateText: (t: string) => t,
};
const parsers: Record<keyof typeof old, Validator> = { ipv4, ipv4Unicast, ipv4Cidr, ipv4Network, ipv4Route, mac, mtu: intRange(68, 65535), domainName, searchList, hostname, stateText };

describe("parsers", () => {
  for (const name of Object.keys(old) as (keyof typeof old)[]) {
    it(`${name}: accepts exactly what the old rule accepted, with the same reason; its value renders back to the text`, () => {
      fc.assert(
        fc.property(anyText, (text) => {
          const before = old[name](text);
          const now = parsers[name](text);
          expect(now.ok).toBe(before.ok);
          if (!now.ok) expect(now.reason).toBe((before as { reason: string }).reason);
          else expect(rendered[name](now.value)).toBe(text);
        }),
        { numRuns: 400 },
      );
    });
  }

  it("parses routes, networks and CIDRs into their parts", () => {
    const c = ipv4Cidr("10.1.2.3/24");
    expect(c.ok && { address: c.value.address, prefixLength: c.value.prefixLength, text: c.value.text, network: c.value.network.text }).toEqual({
      address: "10.1.2.3",
      prefixLength: 24,
      text: "10.1.2.3/24",
      network: "10.1.2.0/24",
    });
    const r = ipv4Route("10.9.0.0/16 0.0.0.0");
    expect(r.ok && [r.value.destination.text, r.value.gateway]).toEqual(["10.9.0.0/16", null]);
    const g = ipv4Route("0.0.0.0/0 192.168.1.1");
    expect(g.ok && [g.value.destination.prefixLength, g.value.gateway]).toEqual([0, "192.168.1.1"]);
    expect(searchList("a.test b.test")).toEqual({ ok: true, value: ["a.test", "b.test"] });
    expect(intRange(68, 65535)("1400")).toEqual({ ok: true, value: 1400 });
    expect(oneOf("true", "false")("true")).toEqual({ ok: true, value: "true" });
    // Parsed values are shared by every handler: they cannot be changed.
    expect(c.ok && Object.isFrozen(c.value) && Object.isFrozen(c.value.network)).toBe(true);
  });

  it("tells whether a network holds an address", () => {
    const net = ipv4Network("10.0.0.0/8");
    const a = ipv4("10.200.1.1");
    const b = ipv4("11.0.0.1");
    const all = ipv4Network("0.0.0.0/0");
    if (!net.ok || !a.ok || !b.ok || !all.ok) throw new Error("fixtures");
    expect(ipv4NetworkContains(net.value, a.value)).toBe(true);
    expect(ipv4NetworkContains(net.value, b.value)).toBe(false);
    expect(ipv4NetworkContains(all.value, b.value)).toBe(true);
  });

  it("takes a validator that only checks: its value is the text", () => {
    const checkOnly: Validator = (v) => (v === "x" ? { ok: true } : { ok: false, reason: "not x" });
    expect(parseWith(checkOnly, "x")).toEqual({ ok: true, value: "x" });
    expect(parseWith(checkOnly, "y")).toEqual({ ok: false, reason: "not x" });
    expect(parseWith(ipv4Cidr, "10.0.0.5/24")).toMatchObject({ ok: true, value: { text: "10.0.0.5/24" } });
  });
});
