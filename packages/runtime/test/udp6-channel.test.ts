/**
 * The UDP-over-IPv6 channel's parts that need no calf: the definition's family, the egress check
 * on canonical IPv6 text, the link-local readiness read from /proc/net/if_inet6, and, in a
 * namespace, a wait that ends once DAD finished, with a socket bound the way the host binds it.
 */
import { describe, expect, it } from "vitest";
import { openUdpSocket } from "@paddock/native";
import { canCreateLabs, createLab, waitFor } from "@paddock/testkit";
import { canonicalIpv6, datagramEgress } from "../src/datapath/index.ts";
import { linkLocalState, waitForLinkLocal, LinkLocalError } from "../src/link-local.ts";
import { checkServiceDefinition } from "../src/service.ts";

describe("datagramEgress on an IPv6 channel", () => {
  const check = datagramEgress({ remotePort: 547, maxDatagramBytes: 64, peers: () => ["ff02::1:2", "2001:DB8::5"], family: 6 });

  it("compares addresses in their canonical text", () => {
    expect(canonicalIpv6("FF02:0:0:0:0:0:1:2")).toBe("ff02::1:2");
    expect(check(new Uint8Array(8), { address: "ff02:0::1:2", port: 547 })).toBeNull();
    expect(check(new Uint8Array(8), { address: "2001:db8:0::5", port: 547 })).toBeNull();
  });

  it.each([
    ["another multicast group", "ff02::1", 547, "PADDOCK_E_EGRESS_PEER"],
    ["a zone index", "ff02::1:2%eth0", 547, "PADDOCK_E_EGRESS_PEER"],
    ["an IPv4 address", "10.0.0.1", 547, "PADDOCK_E_EGRESS_PEER"],
    ["an IPv4-mapped address", "::ffff:10.0.0.1", 547, "PADDOCK_E_EGRESS_PEER"],
    ["text that is no address", "x".repeat(300), 547, "PADDOCK_E_EGRESS_PEER"],
    ["another port", "ff02::1:2", 546, "PADDOCK_E_EGRESS_PORTS"],
  ])("refuses %s", (_what, address, port, code) => {
    expect(check(new Uint8Array(8), { address, port })?.code).toBe(code);
  });

  it("keeps an IPv4 channel's exact comparison", () => {
    const v4 = datagramEgress({ remotePort: 123, maxDatagramBytes: 48, peers: () => ["10.0.0.1"] });
    expect(v4(new Uint8Array(48), { address: "10.0.0.1", port: 123 })).toBeNull();
    expect(v4(new Uint8Array(48), { address: "ff02::1:2", port: 123 })?.code).toBe("PADDOCK_E_EGRESS_PEER");
  });
});

describe("the udp channel's family", () => {
  const base = { name: "x6", description: "d", schema: { entries: [], maxTotalBytes: 1 }, calf: { entry: "./c.ts", memoryMiB: 64, pids: 16, sendRate: { perSecond: 1, burst: 1 } } };
  it("is 4 or 6", () => {
    expect(checkServiceDefinition({ ...base, channels: { udp: { kind: "udp", family: 6, localPort: 546, remotePort: 547, maxDatagramBytes: 512 } } })).toEqual([]);
    expect(checkServiceDefinition({ ...base, channels: { udp: { kind: "udp", family: 5 as 6, localPort: 546, remotePort: 547, maxDatagramBytes: 512 } } })).toContain("channels.udp.family must be 4 or 6");
  });
});

describe("linkLocalState", () => {
  const line = (addr: string, index: number, scope: number, flags: number, name = "eth0") => `${addr} ${index.toString(16).padStart(8, "0")} 40 ${scope.toString(16).padStart(2, "0")} ${flags.toString(16).padStart(2, "0")} ${name}`;
  const ll = "fe800000000000000000000000000001";
  const global = "20010db8000000000000000000000005";

  it("reads ready, tentative, DAD failed and none for one ifindex", () => {
    expect(linkLocalState(line(ll, 3, 0x20, 0x80), 3)).toEqual({ kind: "ready", address: "fe80::1" });
    expect(linkLocalState(line(ll, 3, 0x20, 0xc0), 3)).toEqual({ kind: "tentative" });
    expect(linkLocalState(line(ll, 3, 0x20, 0x88), 3)).toEqual({ kind: "dad-failed", address: "fe80::1" });
    expect(linkLocalState(line(ll, 4, 0x20, 0x80), 3)).toEqual({ kind: "none" });
    // A global address is no link-local one, ready or not.
    expect(linkLocalState(line(global, 3, 0x00, 0x80), 3)).toEqual({ kind: "none" });
  });

  it("ignores lines that are not the kernel's format", () => {
    expect(linkLocalState(["garbage", "", line("fe80", 3, 0x20, 0x80), line(ll, 3, 0x20, 0x80)].join("\n"), 3).kind).toBe("ready");
  });
});

describe.skipIf(!canCreateLabs)("waitForLinkLocal in a namespace", () => {
  it("waits while DAD runs, then a socket bound like the host's sends from that address", async () => {
    const lab = createLab({ prefix: "d6s" });
    try {
      const a = lab.namespace("a");
      const b = lab.namespace("b");
      // Slow DAD (5 probes, 1 s apart) so the address is certainly seen tentative first.
      lab.sysctl(a, { "net.ipv6.conf.default.dad_transmits": "5" });
      const ifA = lab.veth(a, b).a.name;
      const ifindex = Number(lab.ipJson<Array<{ ifindex: number }>>(a, ["link", "show", ifA])[0]!.ifindex);
      const netnsPath = a.path;
      const text = () => lab.exec(a, ["cat", "/proc/net/if_inet6"]);
      await waitFor(() => linkLocalState(text(), ifindex).kind !== "none", { what: "the link-local address to appear", timeoutMs: 10_000 });
      expect(linkLocalState(text(), ifindex).kind).toBe("tentative");
      // The namespace's own list (this process's /proc/net is the host's).
      const address = await waitForLinkLocal({ ifindex, ifname: ifA, timeoutMs: 15_000, read: async () => text() });
      expect(address).toMatch(/^fe80:/);
      expect(linkLocalState(text(), ifindex).kind).toBe("ready");
      const socket = openUdpSocket({ address: "::", port: 546, ifname: ifA, netnsPath });
      try {
        expect(() => socket.sendTo(new Uint8Array([1, 2, 3, 4]), "ff02::1:2", 547)).not.toThrow();
      } finally {
        socket.close();
      }
    } finally {
      await lab.destroy();
    }
  });

  it("gives up with a typed error when the interface never gets one", async () => {
    const err = await waitForLinkLocal({ ifindex: 1_000_000, ifname: "nothere0", timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkLocalError);
    expect((err as LinkLocalError).code).toBe("PADDOCK_E_HOST_LINK_LOCAL_TIMEOUT");
    expect((err as LinkLocalError).message).toMatch(/^nothere0 has no usable IPv6 link-local address after 0.3 s: it has none/);
  });
});
