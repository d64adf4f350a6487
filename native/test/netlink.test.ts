import { afterAll, describe, expect, it } from "vitest";

import { NativeError, openNetlinkRoute, type NetlinkSocket } from "@paddock/native";

import { canRunAsRoot, createNetns, inNetns, removeAllNetns, skipReason, waitFor } from "./netns.ts";

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const RTNLGRP_LINK = 1;
const IFLA_IFNAME = 3;

/** An RTM_GETLINK dump request: nlmsghdr + ifinfomsg. */
function getLinkDump(seq: number): Uint8Array {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(32, 0);
  b.writeUInt16LE(RTM_GETLINK, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

interface Msg {
  type: number;
  seq: number;
  pid: number;
  body: Buffer;
}

function splitMessages(d: Buffer): Msg[] {
  const out: Msg[] = [];
  let off = 0;
  while (off + 16 <= d.length) {
    const len = d.readUInt32LE(off);
    if (len < 16 || off + len > d.length) break;
    out.push({ type: d.readUInt16LE(off + 4), seq: d.readUInt32LE(off + 8), pid: d.readUInt32LE(off + 12), body: d.subarray(off + 16, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** Interface names in RTM_NEWLINK messages (IFLA_IFNAME attribute after the 16-byte ifinfomsg). */
function linkName(body: Buffer): string | undefined {
  let off = 16;
  while (off + 4 <= body.length) {
    const len = body.readUInt16LE(off);
    const type = body.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4) return undefined;
    if (type === IFLA_IFNAME) return body.subarray(off + 4, off + len).toString("latin1").replace(/\0+$/, "");
    off += (len + 3) & ~3;
  }
  return undefined;
}

describe.skipIf(!canRunAsRoot)(`NETLINK_ROUTE socket (${skipReason})`, () => {
  const sockets: NetlinkSocket[] = [];
  afterAll(() => {
    for (const s of sockets) s.close();
    removeAllNetns();
  });

  it("dumps links of the target namespace and receives whole datagrams up to NLMSG_DONE", async () => {
    const ns = createNetns();
    inNetns(ns.name, "ip", ["link", "add", "pveth0", "type", "veth", "peer", "name", "pveth1"]);
    const s = openNetlinkRoute({ netnsPath: ns.path });
    sockets.push(s);
    expect(s.portId).toBeGreaterThan(0);
    const names: string[] = [];
    let done = false;
    s.onError((e) => {
      throw e;
    });
    s.onMessage((d) => {
      for (const m of splitMessages(d)) {
        expect(m.seq).toBe(7);
        expect(m.pid).toBe(s.portId);
        if (m.type === RTM_NEWLINK) names.push(linkName(m.body) ?? "?");
        if (m.type === NLMSG_DONE) done = true;
      }
    });
    s.send(getLinkDump(7));
    await waitFor(() => done, 10_000, "NLMSG_DONE");
    // The namespace's own links, not the host's.
    expect(names.sort()).toEqual(["lo", "pveth0", "pveth1"]);
  });

  it("joins multicast groups and receives link events", async () => {
    const ns = createNetns();
    const s = openNetlinkRoute({ netnsPath: ns.path, groups: [RTNLGRP_LINK] });
    sockets.push(s);
    const events: string[] = [];
    s.onMessage((d) => {
      for (const m of splitMessages(d)) if (m.type === RTM_NEWLINK) events.push(linkName(m.body) ?? "?");
    });
    inNetns(ns.name, "ip", ["link", "add", "pevent0", "type", "veth", "peer", "name", "pevent1"]);
    await waitFor(() => events.includes("pevent0"), 10_000, "RTM_NEWLINK event");
  });

  it("gets a NLMSG_ERROR reply for a bad request, and a NativeError for a bad namespace", async () => {
    const s = openNetlinkRoute();
    sockets.push(s);
    let errno: number | undefined;
    s.onMessage((d) => {
      for (const m of splitMessages(d)) if (m.type === NLMSG_ERROR) errno = -m.body.readInt32LE(0);
    });
    // RTM_NEWLINK with no attributes at all: the kernel refuses it.
    const b = Buffer.alloc(32);
    b.writeUInt32LE(32, 0);
    b.writeUInt16LE(RTM_NEWLINK, 4);
    b.writeUInt16LE(NLM_F_REQUEST | 0x4 /* ACK */, 6);
    b.writeUInt32LE(9, 8);
    s.send(b);
    await waitFor(() => errno !== undefined, 10_000, "NLMSG_ERROR");
    expect(errno).toBeGreaterThan(0);

    let caught: unknown;
    try {
      openNetlinkRoute({ netnsPath: "/run/netns/paddock-does-not-exist" });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(NativeError);
    expect((caught as NativeError).errno).toBe("ENOENT");
    expect((caught as NativeError).syscall).toBe("open");
    expect((caught as NativeError).code).toBe("PADDOCK_E_NATIVE_ENOENT");
  });
});
