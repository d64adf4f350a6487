// The DHCP client's operator settings (issue 13 A5): each option's values and refusals, the client
// identifier the priv fixes in every form (and the egress check that holds the calf to it), and the
// /config keys a reload recomputes.
import { describe, expect, it } from "vitest";
import { encodeDhcpFrame, MessageType, type DhcpOption } from "@paddock/dhcp4";
import { parseServiceOptions } from "@paddock/runtime";
import { clientIdKey, dhcp4Schema, dhcp4Service, dhcpClientEgress, fixedClientId, liveConfigKeys } from "../src/index.ts";

const mac = Uint8Array.of(0x02, 0x77, 0xf4, 0xa9, 0x18, 0xe3);
const opts = (settings: Record<string, string | number | boolean>) => parseServiceOptions(dhcp4Service, settings);
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("hex"));

describe("client identifier", () => {
  it.each([
    [{}, "ff" + "f4a918e3" + "00030001" + "0277f4a918e3"],
    [{ "client-id": "duid", iaid: 7 }, "ff" + "00000007" + "00030001" + "0277f4a918e3"],
    [{ "client-id": "duid", duid: "00:02:00:00:ab:11:01" }, "ff" + "f4a918e3" + "00020000ab1101"],
    [{ "client-id": "mac" }, "01" + "0277f4a918e3"],
    [{ "client-id": "01:02:03" }, "010203"],
    [{ "client-id": "none" }, null],
  ])("%j → %s", (settings, want) => {
    expect(hex(fixedClientId(opts(settings), mac))).toBe(want);
  });

  it("refuses values it cannot use, in one sentence naming the option", () => {
    expect(() => opts({ "client-id": "zz" })).toThrow(/^option client-id of dhcp4 must be duid, mac, none or 2–255 bytes of hex, not "zz"$/);
    expect(() => opts({ "client-id": "01" })).toThrow(/client-id/);
    expect(() => opts({ iaid: -1 })).toThrow(/^option iaid of dhcp4 must be a number 0–4294967295, not -1$/);
    expect(() => opts({ duid: "0001" })).toThrow(/^option duid of dhcp4 must be 3–130 bytes of hex/);
    expect(() => fixedClientId(opts({ "client-id": "mac", iaid: 1 }), mac)).toThrow(/iaid and duid of dhcp4 go with client-id duid/);
  });

  it("is what /config/client-id holds, and the store's parser takes every form", () => {
    const entry = dhcp4Schema.entries.find((e) => e.pattern === "/config/client-id")!;
    const forms: Array<Record<string, string>> = [{}, { "client-id": "mac" }, { "client-id": "none" }, { "client-id": "0a0b" }];
    for (const s of forms) {
      const key = clientIdKey(fixedClientId(opts(s), mac));
      expect((entry.validate(key) as { ok: boolean }).ok).toBe(true);
    }
  });

  it("holds the calf to it in egress in every form: mac as fixed, none as absent", () => {
    const frame = (options: DhcpOption[]) => {
      const r = encodeDhcpFrame(
        { op: 1, htype: 1, hlen: 6, hops: 0, xid: 1, secs: 0, flags: 0, ciaddr: "0.0.0.0", yiaddr: "0.0.0.0", siaddr: "0.0.0.0", giaddr: "0.0.0.0", chaddr: mac, sname: "", file: "", options: [{ kind: "messageType", code: 53, type: MessageType.DISCOVER }, ...options] },
        { srcMac: mac, dstMac: new Uint8Array(6).fill(255), srcIp: "0.0.0.0", dstIp: "255.255.255.255", srcPort: 68, dstPort: 67 },
      );
      if (!r.ok) throw new Error(r.error.code);
      return r.value;
    };
    const id = (data: Uint8Array): DhcpOption => ({ kind: "clientId", code: 61, data });
    const macForm = dhcpClientEgress({ mac, leasedAddress: () => undefined, clientId: fixedClientId(opts({ "client-id": "mac" }), mac) });
    expect(macForm(frame([id(Uint8Array.of(1, ...mac))]))).toBeNull();
    expect(macForm(frame([id(Uint8Array.of(255, 1, 2, 3, 4, 0, 3, 0, 1, ...mac))]))?.code).toBe("PADDOCK_E_EGRESS_CLIENT_ID");
    expect(macForm(frame([]))?.code).toBe("PADDOCK_E_EGRESS_CLIENT_ID");
    const none = dhcpClientEgress({ mac, leasedAddress: () => undefined, clientId: fixedClientId(opts({ "client-id": "none" }), mac) });
    expect(none(frame([]))).toBeNull();
    expect(none(frame([id(Uint8Array.of(1, ...mac))]))?.code).toBe("PADDOCK_E_EGRESS_CLIENT_ID");
  });
});

describe("the settings a reload may change", () => {
  it("are live options, and the others need a restart", () => {
    const live = Object.entries(dhcp4Service.options ?? {}).filter(([, o]) => (o as { live?: boolean }).live).map(([n]) => n).sort();
    expect(live).toEqual(["fqdn", "hostname", "ipv6-only-preferred", "keep-lease-on-reboot-timeout", "log-level", "min-lease-seconds", "release-on-exit", "request-options", "vendor-class"]);
  });

  it("become /config keys, each valid for the store; unset ones are deleted", () => {
    const keys = liveConfigKeys(opts({ hostname: "gw", "vendor-class": "acme router 1.0", "request-options": "1, 3,6  121", "keep-lease-on-reboot-timeout": false }));
    expect(keys).toEqual({
      "/config/hostname": "gw",
      "/config/fqdn": null,
      "/config/vendor-class": "acme router 1.0",
      "/config/request-options": "1 3 6 121",
      "/config/keep-lease-on-reboot": "false",
      "/config/ipv6-only-preferred": "false",
      "/config/release-on-stop": "false",
      "/config/log-level": "info",
      "/config/min-lease": "60",
    });
    for (const [path, value] of Object.entries(keys)) {
      if (value === null) continue;
      const entry = dhcp4Schema.entries.find((e) => e.pattern === path)!;
      expect((entry.validate(value) as { ok: boolean }).ok, path).toBe(true);
    }
    expect(liveConfigKeys(opts({}))["/config/keep-lease-on-reboot"]).toBe("true");
  });

  it.each([
    [{ "vendor-class": "tab\there" }, /^option vendor-class of dhcp4 must be printable ASCII, 1–255 bytes, not "tab\\there"$/],
    [{ "vendor-class": "x".repeat(256) }, /vendor-class of dhcp4 must be printable ASCII, 1–255 bytes/],
    [{ "vendor-class": "" }, /vendor-class/],
    [{ "vendor-class": "café" }, /vendor-class/],
    [{ hostname: "no spaces" }, /^option hostname of dhcp4 must be a host name/],
    [{ fqdn: "a..b" }, /^option fqdn of dhcp4 must be a domain name/],
    [{ "request-options": "1, 255" }, /^option request-options of dhcp4 must be option codes 1–254 separated by commas, not "1, 255"$/],
    [{ "min-lease-seconds": 61 }, /^option min-lease-seconds of dhcp4 must be a whole number 1–60, not 61$/],
    [{ "log-level": "loud" }, /^option log-level of dhcp4 must be debug, info, warn or error, not "loud"$/],
  ])("refuses %j", (settings, message) => {
    expect(() => opts(settings)).toThrow(message);
  });

  it("RFC 8925: ipv6-only-preferred becomes /config/ipv6-only-preferred; 108 in request-options without it is refused", () => {
    expect(liveConfigKeys(opts({ "ipv6-only-preferred": true }))["/config/ipv6-only-preferred"]).toBe("true");
    expect(liveConfigKeys(opts({ "ipv6-only-preferred": true, "request-options": "1, 3, 108" }))["/config/request-options"]).toBe("1 3 108");
    expect(() => liveConfigKeys(opts({ "request-options": "1, 3, 108" }))).toThrow(/^option request-options of dhcp4 lists 108 \(IPv6-only preferred, RFC 8925\): set ipv6-only-preferred instead/);
    expect(() => opts({ "ipv6-only-preferred": "maybe" })).toThrow(/ipv6-only-preferred/);
  });

  it("refuses hostname and fqdn together (RFC 4702 §3)", () => {
    expect(() => liveConfigKeys(opts({ hostname: "a", fqdn: "a.example" }))).toThrow(/hostname and fqdn of dhcp4 are alternatives/);
  });
});
