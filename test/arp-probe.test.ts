/**
 * RFC 5227 through the real priv, a real runc calf and dnsmasq (issue 13 A6):
 * - another host on the link (the server namespace's own kernel, answering ARP for an address
 *   configured there) holds the address dnsmasq offers: the client DECLINEs it (dnsmasq logs the
 *   DECLINE) and ends with a different address;
 * - a free address is probed (3 probes, nothing applied yet) and announced twice after it is
 *   applied, all seen on the wire from the server's side;
 * - a bound address is defended with one announcement when another host claims it, and given up
 *   (withdrawn, no DECLINE, a new exchange) when it claims it again within 10 s;
 * - a hostile calf's ARP (a gratuitous ARP for another address, an ARP reply, a forged sender MAC)
 *   is refused and counted by the priv and never reaches the wire, while its one well-formed
 *   announcement does.
 *
 * Needs root (namespaces, runc) and dnsmasq. Skipped with a reason otherwise, never under CI=true.
 */
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { decodeArpFrame, encodeArpFrame, type ArpPacket } from "@paddock/dhcp4";
import { ACCEPT_ALL_FILTER, ETH_P_ALL, openPacketSocket } from "@paddock/native";
import { connectKv } from "@paddock/kv";
import { waitFor } from "@paddock/testkit";
import { defaultOffer, haveAll, NetLab, type ShimProc } from "./helpers/lab.ts";
import { repoRoot } from "./helpers/paddock.ts";

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI === "true") throw new Error("the ARP probe tests need root, and CI must run them");
const NEEDS = ["dnsmasq", "runc", "nsenter"];
const run = isRoot && haveAll(NEEDS);
const skipReason = !isRoot ? "needs root (network namespaces and runc)" : `needs ${NEEDS.join(", ")}`;

/** Probing takes 4–7 s (RFC 5227 §2.1) after a sub-second exchange; past 60 s it hangs (a conflict adds a 10 s hold-off and a second probe). */
const LEASE_TIMEOUT_MS = 60_000;
const PREFIX = "pdar";

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/** Printed, never asserted: wall-clock figures vary with the machine's load. */
const figures: string[] = [];
afterAll(() => {
  if (figures.length > 0) console.log(`arp-probe figures:\n  ${figures.join("\n  ")}`);
});

/** Every ARP frame seen on the server's end of the veth, decoded, in order. */
function watchArp(l: NetLab): { seen: ArpPacket[]; at: number[]; send: (frame: Uint8Array) => void; close: () => void } {
  const observer = openPacketSocket({ ifname: l.serverIf, netnsPath: `/run/netns/${l.serverNs}`, filter: ACCEPT_ALL_FILTER.bytes, protocol: ETH_P_ALL });
  const seen: ArpPacket[] = [];
  const at: number[] = [];
  observer.onFrame((f) => {
    const d = decodeArpFrame(f);
    if (d.ok) {
      seen.push(d.value);
      at.push(Date.now());
    }
  });
  return { seen, at, send: (frame) => observer.send(frame), close: () => observer.close() };
}

function macOf(l: NetLab): string {
  const links = JSON.parse(l.client(["-j", "link", "show", l.clientIf])) as Array<{ address: string }>;
  return links[0]!.address;
}

const macText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
const isProbe = (a: ArpPacket, address: string): boolean => a.op === 1 && a.senderIp === "0.0.0.0" && a.targetIp === address;
const isAnnouncement = (a: ArpPacket, address: string): boolean => a.op === 1 && a.senderIp === address && a.targetIp === address;

async function bound(l: NetLab, shim: ShimProc, pred: (address: string) => boolean = () => true): Promise<string> {
  const a = await l.waitForAddress(LEASE_TIMEOUT_MS, (x) => pred(x.local)).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${shim.output.slice(-4000)}`);
  });
  return a.local;
}

describe.skipIf(!run)(`RFC 5227 address conflict detection${run ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("DECLINEs an offered address another host holds and ends with a different one", async () => {
    lab = NetLab.create("10.61.0", PREFIX);
    const l = lab;
    // Another host on the link holds .50: a macvlan on the server's end of the veth, in a namespace
    // of its own, whose kernel answers ARP for it.
    const other = l.lab.namespace("h");
    const mv = l.lab.ifname();
    l.server(["link", "add", "link", l.serverIf, "name", mv, "type", "macvlan", "mode", "bridge"]);
    l.server(["link", "set", mv, "netns", other.name]);
    l.lab.ip(other, ["addr", "add", "10.61.0.50/24", "dev", mv]);
    l.lab.ip(other, ["link", "set", mv, "up"]);
    const otherMac = (JSON.parse(l.lab.ip(other, ["-j", "link", "show", mv])) as Array<{ address: string }>)[0]!.address;
    // dnsmasq offers .50 first (a reservation for the client's MAC); once declined, it falls back to its range.
    const dnsmasq = l.startDnsmasq(defaultOffer("10.61.0"), [`--dhcp-host=${macOf(l)},10.61.0.50`]);
    const arp = watchArp(l);
    try {
      const shim = l.startShim({ arpProbe: true });
      const address = await bound(l, shim).catch((err: Error) => {
        throw new Error(`${err.message}\ndnsmasq:\n${dnsmasq.output.slice(-3000)}`);
      });
      expect(address).not.toBe("10.61.0.50");
      figures.push(`address in use: shim start → a different address applied ${Date.now() - shim.startedAt} ms (a probe, DECLINE, 10 s hold-off, a new exchange and its probe)`);
      const addrs = await l.addrs();
      expect(addrs.map((a) => a.local)).toEqual([address]);
      // dnsmasq saw the DECLINE of .50 (RFC 2131 §3.1.5: with the requested address and server id).
      await waitFor(() => dnsmasq.lines(/DHCPDECLINE.*10\.61\.0\.50/).length > 0, { what: "dnsmasq to log the DECLINE", timeoutMs: 10_000, state: () => dnsmasq.output.slice(-2000) });
      // The client probed .50 (and never announced it); the other host's kernel answered.
      expect(shim.lines(new RegExp(`10\\.61\\.0\\.50 is in use by ${otherMac}: DECLINE sent to 10\\.61\\.0\\.1`)).length).toBe(1);
      expect(arp.seen.some((a) => isProbe(a, "10.61.0.50"))).toBe(true);
      expect(arp.seen.some((a) => isAnnouncement(a, "10.61.0.50"))).toBe(false);
    } finally {
      arp.close();
    }
  }, 120_000);

  it("probes a free address three times before applying it, and announces it twice after", async () => {
    lab = NetLab.create("10.62.0", PREFIX);
    const l = lab;
    l.startDnsmasq(defaultOffer("10.62.0"));
    const arp = watchArp(l);
    try {
      const shim = l.startShim({ arpProbe: true });
      const mac = macOf(l);
      const address = await bound(l, shim);
      // When the address appears, its three probes have been on the wire (2 s and more before).
      const probes = arp.seen.filter((a) => isProbe(a, address));
      expect(probes).toHaveLength(3);
      expect(probes.every((a) => macText(a.senderMac) === mac && macText(a.ethernetSource) === mac && a.targetMac.every((b) => b === 0))).toBe(true);
      // Then two announcements (RFC 5227 §2.3).
      await waitFor(() => arp.seen.filter((a) => isAnnouncement(a, address)).length >= 2, { what: "two announcements", timeoutMs: 10_000, state: () => JSON.stringify(arp.seen.map((a) => `${a.op} ${a.senderIp}→${a.targetIp}`)) });
      const announcements = arp.seen.filter((a) => isAnnouncement(a, address));
      expect(announcements.every((a) => macText(a.senderMac) === mac)).toBe(true);
      // Probes came before announcements.
      expect(arp.seen.findIndex((a) => isAnnouncement(a, address))).toBeGreaterThan(arp.seen.findLastIndex((a) => isProbe(a, address)));
      expect(shim.lines(/no answer to 3 ARP probes/).length).toBe(1);
      const first = arp.at[arp.seen.findIndex((a) => isProbe(a, address))]!;
      const announced = arp.at[arp.seen.findIndex((a) => isAnnouncement(a, address))]!;
      figures.push(`free address: first probe → first announcement ${announced - first} ms (RFC 5227: 4–6 s after the first probe)`);
    } finally {
      arp.close();
    }
  }, 120_000);

  it("defends a bound address once, and gives it up when another host claims it again within 10 s", async () => {
    lab = NetLab.create("10.64.0", PREFIX);
    const l = lab;
    l.startDnsmasq(defaultOffer("10.64.0"));
    const arp = watchArp(l);
    try {
      const shim = l.startShim({ arpProbe: true });
      const address = await bound(l, shim);
      await waitFor(() => arp.seen.filter((a) => isAnnouncement(a, address)).length >= 2, { what: "the two announcements", timeoutMs: 10_000, state: () => `${arp.seen.length} ARP frames` });
      const watch = await l.watchAddresses(50);
      // Another host (a MAC of no interface here) claims the address: an ARP reply from it.
      const claim = encodeArpFrame({ senderMac: Uint8Array.of(0x02, 0, 0, 0, 0, 0x42), senderIp: address, targetIp: "10.64.0.1" });
      if (!claim.ok) throw new Error(claim.error.detail);
      claim.value[21] = 2;
      const announcedBefore = arp.seen.filter((a) => isAnnouncement(a, address)).length;
      arp.send(claim.value);
      // §2.4 (b): one announcement defends it; the address stays.
      await waitFor(() => arp.seen.filter((a) => isAnnouncement(a, address)).length > announcedBefore, { what: "a defending announcement", timeoutMs: 10_000, state: () => shim.tail() });
      await shim.waitForLog(/is claimed by 02:00:00:00:00:42: defending it/, { timeoutMs: 10_000 });
      expect((await l.addrs()).map((a) => a.local)).toEqual([address]);
      // A second claim well within DEFEND_INTERVAL: the client gives the address up (no DECLINE)
      // and starts over; nobody holds it now, so the new probe finds it free and it comes back.
      arp.send(claim.value);
      await shim.waitForLog(/is claimed again by 02:00:00:00:00:42 within 10 s: giving it up/, { timeoutMs: 10_000 });
      await shim.waitForLog(/no answer to 3 ARP probes/, { occurrence: 2, timeoutMs: 30_000 });
      await l.waitForAddress(LEASE_TIMEOUT_MS, (a) => a.local === address);
      await watch.stop();
      expect(watch.deletions().some((line) => line.includes(` ${address}/`))).toBe(true);
      expect(shim.lines(/DECLINE/)).toEqual([]);
    } finally {
      arp.close();
    }
  }, 120_000);

  it("refuses a hostile calf's ARP — another address, a reply, a forged sender MAC — and lets its announcement out", async () => {
    lab = NetLab.create("10.63.0", PREFIX);
    const l = lab;
    l.startDnsmasq(defaultOffer("10.63.0"));
    const arp = watchArp(l);
    try {
      const shim = l.startShim({ extraArgs: ["--log-format", "json", "--calf", path.join(repoRoot, "test/fixtures/arp-hostile-calf.ts")] });
      const report = await waitFor(async () => {
        const c = await connectKv(shim.adminSocket).catch(() => undefined);
        if (c === undefined) return undefined;
        try {
          return JSON.parse(await c.read("/state/report")) as { address: string; sent: number };
        } catch {
          return undefined;
        } finally {
          c.close();
        }
      }, { what: "the calf's report", timeoutMs: 60_000, state: () => shim.output.slice(-3000) });
      const { address } = report;
      const m = await waitFor(async () => {
        const t = await shim.metrics();
        const refused = ["PADDOCK_E_EGRESS_ARP_ADDRESS", "PADDOCK_E_EGRESS_ARP", "PADDOCK_E_EGRESS_ARP_SENDER_MAC"].map((reason) => t.get("paddock_egress_rejected_total", { reason }) ?? 0);
        return refused.every((n) => n === 1) ? t : undefined;
      }, { what: "the three refusals to be counted", timeoutMs: 10_000, state: () => shim.output.slice(-3000) });
      expect(m.get("paddock_egress_rejected_total", { reason: "PADDOCK_E_EGRESS_SOURCE_MAC" }) ?? 0).toBe(0);
      // The control announcement went out; nothing of the refused three did.
      await waitFor(() => arp.seen.some((a) => isAnnouncement(a, address)), { what: "the calf's announcement on the wire", timeoutMs: 10_000, state: () => `${arp.seen.length} ARP frames` });
      const net = address.split(".").slice(0, 3).join(".");
      expect(arp.seen.filter((a) => a.senderIp === `${net}.77` || a.targetIp === `${net}.77`)).toEqual([]);
      expect(arp.seen.filter((a) => a.targetIp === `${net}.78`)).toEqual([]);
      expect(arp.seen.filter((a) => macText(a.senderMac) === "02:00:00:00:00:99")).toEqual([]);
      expect(shim.running).toBe(true);
    } finally {
      arp.close();
    }
  }, 120_000);
});
