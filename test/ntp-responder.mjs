/**
 * A hostile NTP server for test/ntp-hostile.test.ts, run with node inside a lab namespace:
 *
 *   node test/ntp-responder.mjs ADDRESS=BEHAVIOUR [ADDRESS=BEHAVIOUR …]
 *
 * It binds port 123 on each address and answers every client request (mode 3) as BEHAVIOUR says;
 * "ready" on stdout once every socket is bound, then "sent BEHAVIOUR for ADDRESS" for each reply. Written for these tests from RFC 5905 §7.3 (the
 * packet) and §7.4 (kiss codes), not taken from another implementation. Behaviours:
 *
 * - `good`, `leap`: a stratum 2 server serving this machine's clock (LI 0; LI 1, a leap second
 *   to insert at the end of the day);
 * - `rate`, `deny`: a kiss-o'-death (stratum 0, LI 3, the kiss code as reference id) that echoes
 *   the nonce, so the client must believe it;
 * - `stratum16`: stratum 16 (unsynchronized); `li3`: stratum 2 with LI 3 (alarm);
 * - `bad-origin`: a good reply whose origin timestamp is not the request's nonce;
 * - `bad-port=N`: a good reply sent from port N of the same address;
 * - `bad-address=A`: a good reply sent from address A (port 123);
 * - `truncated`: the first 40 bytes of a good reply;
 * - `mode6`, `mode7`: a control (ntpq) or private (ntpdc) mode reply header;
 * - `silent`: reads requests and never answers.
 */
import dgram from "node:dgram";

/** RFC 5905 §6: seconds from 1900 to 1970. */
const NTP_UNIX_OFFSET = 2_208_988_800;
const NTP_PORT = 123;
const HEADER_BYTES = 48;

/** The realtime clock as whole seconds and nanoseconds since 1970 (sub-millisecond, unlike Date.now()). */
const anchorWallNs = BigInt(Date.now()) * 1_000_000n;
const anchorMono = process.hrtime.bigint();
function realtimeNs() {
  return anchorWallNs + (process.hrtime.bigint() - anchorMono);
}

/** Writes the NTP timestamp of realtime `ns` at `offset`. */
function writeTimestamp(buf, offset, ns) {
  const sec = ns / 1_000_000_000n;
  const frac = ((ns % 1_000_000_000n) << 32n) / 1_000_000_000n;
  buf.writeUInt32BE(Number((sec + BigInt(NTP_UNIX_OFFSET)) & 0xffffffffn), offset);
  buf.writeUInt32BE(Number(frac), offset + 4);
}

/** A mode 4 reply to `request` received at `receivedNs`: leap, stratum, reference id as given. */
function reply(request, receivedNs, { leap = 0, stratum = 2, refid = "GOOD", origin }) {
  const b = Buffer.alloc(HEADER_BYTES);
  b[0] = (leap << 6) | (4 << 3) | 4; // LI, version 4, mode 4 (server)
  b[1] = stratum;
  b[2] = request[2]; // poll: the client's (0 from a minimising client)
  b.writeInt8(-20, 3); // precision: ~1 µs
  b.writeUInt32BE(0x00000010, 4); // root delay: 16/65536 s
  b.writeUInt32BE(0x00000010, 8); // root dispersion
  Buffer.from(refid.padEnd(4, "\0").slice(0, 4), "latin1").copy(b, 12);
  writeTimestamp(b, 16, receivedNs - 1_000_000_000n); // reference time: a second ago
  (origin ?? request.subarray(40, 48)).copy(b, 24); // origin: the request's transmit timestamp (the nonce)
  writeTimestamp(b, 32, receivedNs);
  writeTimestamp(b, 40, realtimeNs());
  return b;
}

/** What each behaviour sends back to `request`, and from which socket (undefined: the one it came to). */
function answer(behaviour, request, receivedNs) {
  switch (behaviour.kind) {
    case "good":
      return { bytes: reply(request, receivedNs, {}) };
    case "leap":
      return { bytes: reply(request, receivedNs, { leap: 1 }) };
    case "rate":
      return { bytes: reply(request, receivedNs, { leap: 3, stratum: 0, refid: "RATE" }) };
    case "deny":
      return { bytes: reply(request, receivedNs, { leap: 3, stratum: 0, refid: "DENY" }) };
    case "stratum16":
      return { bytes: reply(request, receivedNs, { stratum: 16 }) };
    case "li3":
      return { bytes: reply(request, receivedNs, { leap: 3 }) };
    case "bad-origin":
      return { bytes: reply(request, receivedNs, { origin: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]) }) };
    case "bad-port":
    case "bad-address":
      return { bytes: reply(request, receivedNs, {}), via: behaviour.socket };
    case "truncated":
      return { bytes: reply(request, receivedNs, {}).subarray(0, 40) };
    case "mode6": {
      // RFC 9327 §2: LI/VN/mode 6, R(esponse) bit + READVAR opcode 2, sequence, status, association, offset, count 0.
      const b = Buffer.alloc(12);
      b[0] = (4 << 3) | 6;
      b[1] = 0x80 | 2;
      return { bytes: b };
    }
    case "mode7": {
      // ntpdc's private mode: R bit, version 4, mode 7; sequence, implementation, request code; error/count, size.
      const b = Buffer.alloc(8);
      b[0] = 0x80 | (4 << 3) | 7;
      b[2] = 3;
      return { bytes: b };
    }
    case "silent":
      return undefined;
    default:
      throw new Error(`unknown behaviour ${behaviour.kind}`);
  }
}

function bind(address, port) {
  const s = dgram.createSocket({ type: "udp4", reuseAddr: false });
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind(port, address, () => resolve(s));
  });
}

const specs = process.argv.slice(2).map((arg) => {
  const m = /^([0-9.]+)=([a-z0-9-]+)(?:=(.+))?$/.exec(arg);
  if (!m) throw new Error(`usage: ADDRESS=BEHAVIOUR[=ARG], not ${arg}`);
  return { address: m[1], kind: m[2], arg: m[3] };
});
for (const spec of specs) {
  const socket = await bind(spec.address, NTP_PORT);
  const behaviour = { kind: spec.kind };
  if (spec.kind === "bad-port") behaviour.socket = await bind(spec.address, Number(spec.arg));
  if (spec.kind === "bad-address") behaviour.socket = await bind(spec.arg, NTP_PORT);
  socket.on("message", (msg, from) => {
    const receivedNs = realtimeNs();
    if (msg.length < HEADER_BYTES || (msg[0] & 7) !== 3) return; // only client requests
    const out = answer(behaviour, msg, receivedNs);
    if (!out) return;
    // One line per reply, so a test knows the client was answered before it reads the outcome.
    (out.via ?? socket).send(out.bytes, from.port, from.address, () => process.stdout.write(`sent ${spec.kind} for ${spec.address}\n`));
  });
}
process.stdout.write("ready\n");
