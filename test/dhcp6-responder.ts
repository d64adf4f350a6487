/**
 * A scripted DHCPv6 server for test/dhcp6-hostile.test.ts, run with tsx inside a lab namespace:
 *
 *   tsx test/dhcp6-responder.ts IFACE BEHAVIOUR COUNT
 *
 * It listens on port 547 (ff02::1:2 joined on IFACE) and answers each SOLICIT or REQUEST from a
 * client: the first COUNT times as BEHAVIOUR says, then honestly. Every answer is a REPLY with
 * rapid commit (a SOLICIT that offers it), so a client that believed a hostile one would bind at
 * once. Messages are built with the @paddock/dhcp6 codec, and the hostile parts are spliced in as
 * raw bytes where the encoder (rightly) refuses to write them. Prints "ready" once bound, then
 * "got TYPE xid=…" and "sent BEHAVIOUR" per answer. Behaviours:
 *
 * - `honest`: IA_NA 2001:db8:6::abc (and, when asked, IA_PD 2001:db8:100::/56), DNS 2001:db8:6::53;
 * - `wrong-xid`: the honest REPLY with another transaction id;
 * - `wrong-duid`: the honest REPLY for another client DUID;
 * - `pd-exclude-overflow`: IA_NA 2001:db8:6::bad and an IA_PD whose prefix carries a PD_EXCLUDE
 *   (RFC 6603) with an excluded length of 200 and 18 bytes of subnet id (overflowing both the
 *   prefix and the option);
 * - `huge-options`: IA_NA 2001:db8:6::bad and as many DNS server options as a datagram holds (~3200);
 * - `silent`: never answers.
 */
import dgram from "node:dgram";
import { decodeDhcp6Message, encodeDhcp6Message, type Dhcp6Message, type Dhcp6Option, type Duid } from "../packages/services/dhcp6/core/src/index.ts";

const [iface, behaviour, countText] = process.argv.slice(2);
if (!iface || !behaviour) throw new Error("usage: dhcp6-responder.ts IFACE BEHAVIOUR COUNT");
let hostileLeft = Number(countText ?? "0");

const SERVER_DUID: Duid = { type: "en", enterprise: 2495, identifier: Uint8Array.of(0x64, 0x36, 0x73) };
const OTHER_CLIENT: Duid = { type: "ll", hardwareType: 1, linkLayer: Uint8Array.of(2, 0, 0, 0, 0, 0x66) };
const HONEST_ADDRESS = "2001:db8:6::abc";
const HOSTILE_ADDRESS = "2001:db8:6::bad";

/** An option's wire bytes: code, length, data (RFC 8415 §21.1). */
function raw(code: number, data: Uint8Array): Uint8Array {
  return Uint8Array.of(code >> 8, code & 0xff, data.length >> 8, data.length & 0xff, ...data);
}

function encode(m: Dhcp6Message): Uint8Array {
  const r = encodeDhcp6Message(m);
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

/** The honest REPLY's options for a request. */
function honestOptions(req: Dhcp6Message, address: string): Dhcp6Option[] {
  const clientId = req.options.find((o) => o.kind === "clientId");
  const out: Dhcp6Option[] = [...(clientId ? [clientId] : []), { kind: "serverId", duid: SERVER_DUID }, { kind: "rapidCommit" }];
  for (const o of req.options) {
    if (o.kind === "iaNa") out.push({ kind: "iaNa", iaid: o.iaid, t1: 150, t2: 240, options: [{ kind: "iaAddr", address, preferred: 300, valid: 600, options: [] }] });
    if (o.kind === "iaPd") out.push({ kind: "iaPd", iaid: o.iaid, t1: 150, t2: 240, options: [{ kind: "iaPrefix", preferred: 300, valid: 600, prefixLength: 56, prefix: "2001:db8:100::", options: [] }] });
  }
  out.push({ kind: "dnsServers", servers: ["2001:db8:6::53"] });
  return out;
}

/** The REPLY for `req` as `how` says. */
function reply(req: Dhcp6Message, how: string): Uint8Array {
  const base = { type: 7 as Dhcp6Message["type"], transactionId: req.transactionId };
  switch (how) {
    case "wrong-xid":
      return encode({ ...base, transactionId: req.transactionId ^ 0x5a5a5a, options: honestOptions(req, HOSTILE_ADDRESS) });
    case "wrong-duid":
      return encode({ ...base, options: honestOptions(req, HOSTILE_ADDRESS).map((o) => (o.kind === "clientId" ? { kind: "clientId", duid: OTHER_CLIENT } : o)) });
    case "pd-exclude-overflow": {
      const head = encode({ ...base, options: honestOptions(req, HOSTILE_ADDRESS).filter((o) => o.kind !== "iaPd") });
      const iaid = req.options.find((o) => o.kind === "iaPd")?.iaid ?? 1;
      // PD_EXCLUDE (67): prefix-len 200, then 18 bytes of IPv6 subnet ID.
      const exclude = raw(67, Uint8Array.of(200, ...new Array<number>(18).fill(0xff)));
      const prefix = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, ...new Array<number>(10).fill(0));
      const iaPrefix = raw(26, Uint8Array.of(0, 0, 1, 44, 0, 0, 2, 88, 56, ...prefix, ...exclude));
      const iaPd = raw(25, Uint8Array.of(iaid >>> 24, (iaid >> 16) & 0xff, (iaid >> 8) & 0xff, iaid & 0xff, 0, 0, 0, 150, 0, 0, 0, 240, ...iaPrefix));
      return Uint8Array.of(...head, ...iaPd);
    }
    case "huge-options": {
      // As many DNS server options as a datagram holds (about 3200).
      const head = encode({ ...base, options: honestOptions(req, HOSTILE_ADDRESS) });
      const dns = raw(23, Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66));
      const n = Math.floor((65000 - head.length) / dns.length);
      const out = new Uint8Array(head.length + n * dns.length);
      out.set(head);
      for (let i = 0; i < n; i++) out.set(dns, head.length + i * dns.length);
      return out;
    }
    default:
      return encode({ ...base, options: honestOptions(req, HONEST_ADDRESS) });
  }
}

const socket = dgram.createSocket({ type: "udp6", reuseAddr: true });
socket.on("message", (bytes, from) => {
  const m = decodeDhcp6Message(new Uint8Array(bytes));
  if (!m.ok) {
    console.log(`undecodable: ${m.error.detail}`);
    return;
  }
  const name = ({ 1: "SOLICIT", 3: "REQUEST", 5: "RENEW", 6: "REBIND", 8: "RELEASE", 11: "INFORMATION-REQUEST" } as Record<number, string>)[m.value.type] ?? `type ${m.value.type}`;
  console.log(`got ${name} xid=${m.value.transactionId.toString(16)} from ${from.address}`);
  if (behaviour === "silent" || (m.value.type !== 1 && m.value.type !== 3)) return;
  const how = hostileLeft > 0 ? behaviour : "honest";
  if (hostileLeft > 0) hostileLeft--;
  const out = reply(m.value, how);
  socket.send(out, from.port, from.address, (err) => console.log(err ? `send failed: ${err.message}` : `sent ${how} (${out.length} bytes)`));
});
socket.bind(547, "::", () => {
  socket.addMembership("ff02::1:2", `::%${iface}`);
  console.log("ready");
});
