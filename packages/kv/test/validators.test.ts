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
  mac,
  searchList,
  stateText,
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
  ["stateText", stateText, ["{\"lease\":1}", "", "multi\nline ok"], ["a\u0000b"]],
];

describe("validators", () => {
  for (const [name, validate, good, bad] of table) {
    for (const v of good) it(`${name} accepts ${JSON.stringify(v)}`, () => expect(validate(v)).toEqual({ ok: true }));
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
