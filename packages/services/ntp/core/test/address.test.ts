/** IP address literals: what is accepted, and the one canonical form both sides are compared in. */

import { describe, expect, it } from "vitest";
import { parseIpAddress } from "../src/index.ts";

describe("parseIpAddress", () => {
  it("gives IPv4 and IPv6 literals their canonical form (RFC 5952)", () => {
    const cases: [string, string][] = [
      ["192.0.2.1", "192.0.2.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:db8:0000::0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["2001:db8:1:2:3:4:5:0", "2001:db8:1:2:3:4:5:0"],
      ["::", "::"],
      ["::1", "::1"],
      ["fe80::", "fe80::"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
      ["::FFFF:c000:0201", "::ffff:192.0.2.1"],
      ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
    ];
    for (const [text, canonical] of cases) expect(parseIpAddress(text), text).toBe(canonical);
  });

  it("refuses names, zone ids, leading zeros, and malformed literals", () => {
    for (const text of ["", "pool.ntp.org", "192.0.2", "192.0.2.1.5", "192.0.2.256", "192.0.2.01", " 192.0.2.1", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::1.2.3.4:5", "1:2:3:4:5:6:7:8::", "a".repeat(60)]) {
      expect(parseIpAddress(text), text).toBeUndefined();
    }
  });
});
