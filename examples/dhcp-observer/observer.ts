/**
 * The observer's logic, apart from any I/O so it can be tested on its own: it folds DHCP
 * server messages into a table of servers seen on the link.
 */
import { decodeDhcpFrame, MessageType, type DhcpMessage } from "@paddock/dhcp4";

/** What we know about one server. */
export interface ServerSeen {
  /** Option 54, or the IPv4 source when a server sends none. */
  id: string;
  /** The Ethernet source of its last message. */
  mac: string;
  offers: number;
  acks: number;
  naks: number;
  /** Unix ms of the last message. */
  lastSeen: number;
}

/** At most this many servers are tracked: a flood of forged server ids cannot grow the state without bound. */
export const MAX_SERVERS = 32;

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");

function messageType(m: DhcpMessage): number | undefined {
  const o = m.options.find((x) => x.kind === "messageType");
  return o?.kind === "messageType" ? o.type : undefined;
}

/**
 * Folds one received frame into the table. Returns true when the table changed. Frames that are
 * not DHCP server messages are ignored (the kernel filter already passed only UDP to port 68).
 */
export function observe(servers: Map<string, ServerSeen>, frame: Uint8Array, now: number, checksumPending = false): boolean {
  const d = decodeDhcpFrame(frame, { udpChecksumPending: checksumPending });
  if (!d.ok || d.value.message.op !== 2) return false;
  const m = d.value.message;
  const type = messageType(m);
  if (type !== MessageType.OFFER && type !== MessageType.ACK && type !== MessageType.NAK) return false;
  const sid = m.options.find((o) => o.kind === "serverId");
  const id = sid?.kind === "serverId" ? sid.address : d.value.info.srcIp;
  let s = servers.get(id);
  if (!s) {
    if (servers.size >= MAX_SERVERS) return false;
    s = { id, mac: "", offers: 0, acks: 0, naks: 0, lastSeen: 0 };
    servers.set(id, s);
  }
  s.mac = hex(d.value.info.srcMac);
  s.lastSeen = now;
  if (type === MessageType.OFFER) s.offers++;
  else if (type === MessageType.ACK) s.acks++;
  else s.naks++;
  return true;
}
