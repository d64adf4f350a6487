/**
 * What the priv itself notes from the DHCP replies it delivers to the calf: the address of the
 * last ACK for this client. The egress check allows that address (and 0.0.0.0) as the source of
 * the calf's frames — not whatever the calf wrote to /ip, which a compromised calf controls and an
 * operator may delete (`paddock kv del /ip` must not stop the next renewal).
 *
 * It reads fixed BOOTP fields and scans the options for the message type only, with a bound on
 * the bytes scanned: it is not a decoder, and any frame it does not understand is no ACK.
 */

/** The reply the priv noted: an ACK's address for this client, or a NAK (the lease is gone). */
export type ObservedReply = { kind: "ack"; yiaddr: string } | { kind: "nak" };

const ETH = 14;
const UDP_HEADER = 8;
/** RFC 2131 §2: fixed BOOTP fields, then the magic cookie. */
const BOOTP_FIXED = 236;
const COOKIE = [99, 130, 83, 99];
/** The message type is among the first options of every server's replies; scanning further is work a hostile server could make us do. */
const MAX_OPTION_BYTES_SCANNED = 312;
const OPTION_PAD = 0;
const OPTION_END = 255;
const OPTION_MESSAGE_TYPE = 53;
const DHCPACK = 5;
const DHCPNAK = 6;

/**
 * The ACK or NAK in `frame` for the client with `mac`, or null: an Ethernet/IPv4/UDP 67 → 68
 * BOOTREPLY (op 2) whose chaddr is `mac`, with option 53 found in the first bytes of options.
 */
export function observeDhcpReply(frame: Uint8Array, mac: Uint8Array): ObservedReply | null {
  if (frame.length < ETH + 20 || frame[12] !== 0x08 || frame[13] !== 0x00) return null;
  const ihl = (frame[ETH]! & 0x0f) * 4;
  if (frame[ETH]! >> 4 !== 4 || ihl < 20 || frame[ETH + 9] !== 17) return null;
  const udp = ETH + ihl;
  const bootp = udp + UDP_HEADER;
  if (frame.length < bootp + BOOTP_FIXED + COOKIE.length) return null;
  const sport = (frame[udp]! << 8) | frame[udp + 1]!;
  const dport = (frame[udp + 2]! << 8) | frame[udp + 3]!;
  if (sport !== 67 || dport !== 68 || frame[bootp] !== 2 || frame[bootp + 1] !== 1 || frame[bootp + 2] !== 6) return null;
  for (let i = 0; i < 6; i++) if (frame[bootp + 28 + i] !== mac[i]) return null;
  for (let i = 0; i < 4; i++) if (frame[bootp + BOOTP_FIXED + i] !== COOKIE[i]) return null;
  const end = Math.min(frame.length, bootp + BOOTP_FIXED + COOKIE.length + MAX_OPTION_BYTES_SCANNED);
  let type: number | undefined;
  for (let at = bootp + BOOTP_FIXED + COOKIE.length; at < end; ) {
    const code = frame[at]!;
    if (code === OPTION_PAD) {
      at++;
      continue;
    }
    if (code === OPTION_END || at + 1 >= end) break;
    const len = frame[at + 1]!;
    if (code === OPTION_MESSAGE_TYPE) {
      if (len === 1 && at + 2 < frame.length) type = frame[at + 2];
      break;
    }
    at += 2 + len;
  }
  if (type === DHCPNAK) return { kind: "nak" };
  if (type !== DHCPACK) return null;
  const y = bootp + 16;
  const yiaddr = `${frame[y]}.${frame[y + 1]}.${frame[y + 2]}.${frame[y + 3]}`;
  const first = frame[y]!;
  // Only an address a host can hold: not 0/8, loopback, multicast or reserved (RFC 1122 §3.2.1.3).
  if (first === 0 || first === 127 || first >= 224) return null;
  return { kind: "ack", yiaddr };
}
