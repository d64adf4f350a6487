/**
 * Real servers' replies, from the public captures, decoded by the codec and fed to the client:
 * the client takes the capture's xid (through its random source), so the replies match its
 * exchanges exactly as they matched the captured client's.
 */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeDhcpFrame, readCapture } from "../src/index.ts";
import type { DhcpFrame } from "../src/index.ts";
import { createClient, serializePersistedLease, step } from "../src/client/index.ts";
import type { ClientAction, ClientState, PersistedLease } from "../src/client/index.ts";
import { T0, seeded, typeOf } from "./client-fixtures.ts";

const PCAPS = fileURLToPath(new URL("../../../../../../shared/pcaps/public/", import.meta.url));

function frames(file: string): DhcpFrame[] {
  const capture = readCapture(readFileSync(PCAPS + file));
  if (!capture.ok) throw new Error(capture.error.detail);
  return capture.value.packets.map((p) => {
    const d = decodeDhcpFrame(p.data, { verifyChecksums: false });
    if (!d.ok) throw new Error(d.error.detail);
    return d.value;
  });
}

/** A random source whose first value makes the xid `xid`, then a seeded sequence. */
function xidFirst(xid: number): () => number {
  const rest = seeded(1);
  let first = true;
  return () => {
    if (!first) return rest();
    first = false;
    return xid / 2 ** 32;
  };
}

function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(":"), (h) => parseInt(h, 16));
}

function published(actions: ClientAction[]): Record<string, string> {
  const kv: Record<string, string> = {};
  for (const a of actions) if (a.kind === "kvWrite" && a.path !== "/state/lease") kv[a.path] = a.value;
  return kv;
}

function feed(state: ClientState, frame: DhcpFrame, now: number) {
  return step(state, { kind: "received", message: frame.message, info: frame.info, rxTime: now }, now);
}

function rebootLease(mac: string, address: string, serverId: string): PersistedLease {
  return {
    v: 1, mac, address, prefix: 24, serverId, serverMac: "", acquiredAt: T0 - 60_000, leaseSeconds: 3600,
    renewMs: 1_800_000, rebindMs: 3_150_000, routers: [], classlessRoutes: null, dns: [], domain: "", search: [], mtu: 0, ntp: [],
  };
}

describe("replaying real servers' replies", () => {
  it("charrua/dhcp2.pcap (Wireshark's DORA): OFFER → REQUEST like the captured one; the ACK for the captured client's new xid is ignored", () => {
    const [discover, offer, request, ack] = frames("charrua/dhcp2.pcap");
    if (!discover || !offer || !request || !ack) throw new Error("capture has 4 packets");
    const created = createClient({ mac: discover.message.chaddr, random: xidFirst(discover.message.xid), clientId: { kind: "mac" } }, T0);
    if (!created.ok) throw new Error(created.error.detail);
    expect(created.state.xid).toBe(0x3d1d);
    const r1 = feed(created.state, offer, T0 + 10);
    expect(r1.state.name).toBe("REQUESTING");
    const ours = r1.actions.find((a) => a.kind === "send");
    if (ours?.kind !== "send") throw new Error("no REQUEST sent");
    // Our REQUEST carries what theirs did: type, requested address, server id, client id.
    for (const kind of ["messageType", "requestedAddress", "serverId", "clientId"] as const) {
      expect(ours.message.options.find((o) => o.kind === kind)).toEqual(request.message.options.find((o) => o.kind === kind));
    }
    // That client switched xid for its REQUEST (0x3d1e); we keep the offer's (§4.4.1), so its ACK is not ours.
    const r2 = feed(r1.state, ack, T0 + 20);
    expect(r2.state.name).toBe("REQUESTING");
    const r3 = feed(r1.state, { ...ack, message: { ...ack.message, xid: 0x3d1d } }, T0 + 20);
    expect(r3.state.name).toBe("BOUND");
    expect(published(r3.actions)).toEqual({ "/ip": "192.168.0.10/24", "/lease/expires": String(T0 / 1000 + 3600), "/lease/server": "192.168.0.1", "/lease/obtained": String(T0 / 1000), "/lease/renew": String(T0 / 1000 + 1800), "/lease/rebind": String(T0 / 1000 + 3150) });
    expect(r3.state.timers.t1).toBe(T0 + 10 + 1800_000);
  });

  it("zeek/dhcp.pcap: a real NAK in REQUESTING sends the client back to discovering", () => {
    const [discover, offer, , nak] = frames("zeek/dhcp.pcap");
    if (!discover || !offer || !nak) throw new Error("capture too short");
    const created = createClient({ mac: discover.message.chaddr, random: xidFirst(discover.message.xid) }, T0);
    if (!created.ok) throw new Error(created.error.detail);
    const r1 = feed(created.state, offer, T0 + 10);
    expect(r1.state.name).toBe("REQUESTING");
    expect(r1.state.selected).toMatchObject({ address: "128.2.6.97", serverId: "128.2.6.152" });
    const r2 = feed(r1.state, nak, T0 + 20);
    expect(r2.state.name).toBe("SELECTING");
    const log = r2.actions.find((a) => a.kind === "log" && a.message.includes("NAK"));
    expect(log?.kind === "log" && log.message).toBe('REQUESTING → INIT: NAK from 128.2.6.152 ("requested address not available") in REQUESTING');
    const sent = r2.actions.find((a) => a.kind === "send");
    expect(sent?.kind === "send" && typeOf(sent.message)).toBe(1);
  });

  it("zeek/dhcp.pcap: the ACK to a reboot REQUEST publishes its lease with routers, DNS, NTP and domain", () => {
    const all = frames("zeek/dhcp.pcap");
    const ack = all[5];
    if (ack === undefined) throw new Error("capture too short");
    const lease = rebootLease("90:b1:1c:99:49:29", "128.2.6.189", "128.2.6.152");
    const created = createClient(
      { mac: macBytes(lease.mac), random: xidFirst(ack.message.xid), clientId: { kind: "none" } },
      T0,
      { persistedLease: serializePersistedLease(lease) },
    );
    if (!created.ok) throw new Error(created.error.detail);
    expect(created.state.name).toBe("REBOOTING");
    const r = feed(created.state, ack, T0 + 5);
    expect(r.state.name).toBe("BOUND");
    const kv = published(r.actions);
    expect(kv).toMatchObject({
      "/gateway": "128.2.6.1",
      "/nameserver/001": "128.2.1.11",
      "/nameserver/002": "128.2.1.10",
      "/ntp/001": "128.2.1.20",
      "/ntp/002": "128.2.1.21",
      "/ntp/003": "128.2.1.22",
      "/lease/expires": String(T0 / 1000 + 900),
    });
    // The address and mask are the remembered ones (the ACK carries no mask): /ip is written again, unchanged.
    expect(kv["/ip"]).toBe("128.2.6.189/24");
    expect(r.state.published["/ip"]).toBe("128.2.6.189/24");
  });

  it("charrua/dhcp.pcap: a reboot ACK with the server's own T1/T2", () => {
    const all = frames("charrua/dhcp.pcap");
    const ack = all[2];
    if (ack === undefined) throw new Error("capture too short");
    const lease = rebootLease("68:5b:35:aa:29:16", "192.168.8.20", "192.168.8.1");
    const created = createClient({ mac: macBytes(lease.mac), random: xidFirst(ack.message.xid), clientId: { kind: "mac" } }, T0, {
      persistedLease: serializePersistedLease(lease),
    });
    if (!created.ok) throw new Error(created.error.detail);
    const r = feed(created.state, ack, T0 + 5);
    expect(r.state.name).toBe("BOUND");
    expect(r.state.published).toMatchObject({ "/ip": "192.168.8.20/24", "/gateway": "192.168.8.1", "/nameserver/001": "192.168.8.1", "/domain": "midearth" });
    expect(r.state.timers).toEqual({ t1: T0 + 43_200_000, t2: T0 + 75_600_000, expiry: T0 + 86_400_000 });
  });
});
