/**
 * The DHCP client's egress check for ARP (RFC 5227), run by the priv after the service's
 * declarative rules (ethertype ARP) and the interface-MAC check matched: the calf may send only
 * its own probes and announcements for the one address the priv saw ACKed to it (/lease/acked).
 *
 * A bounded check of fixed offsets, not a decoder: the frame is at most 60 bytes.
 */

import { egressRejection as reject, macText, type EgressRejection } from "@paddock/runtime";

const ETH_HEADER = 14;
/** Ethernet header + the 28-byte Ethernet/IPv4 ARP packet (RFC 826). */
export const ARP_FRAME_BYTES = ETH_HEADER + 28;
/** A minimum-size Ethernet frame (without FCS): an ARP frame padded with zeroes. */
export const MAX_ARP_FRAME_BYTES = 60;
const ARP_REQUEST = 1;

function ipAt(f: Uint8Array, at: number): string {
  return `${f[at]}.${f[at + 1]}.${f[at + 2]}.${f[at + 3]}`;
}

function allBytes(f: Uint8Array, from: number, to: number, value: number): boolean {
  for (let i = from; i < to; i++) if (f[i] !== value) return false;
  return true;
}

function equalBytes(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (a[aAt + i] !== b[i]) return false;
  return true;
}

/**
 * Whether an ARP frame (ethertype 0x0806, Ethernet source already checked to be `mac`) is one the
 * DHCP client may send: a broadcast Ethernet/IPv4 ARP request (opcode 1) whose sender hardware
 * address is `mac` and target hardware address zero, that is an RFC 5227 probe (sender IP
 * 0.0.0.0, target IP = `acked`, §2.1.1) or an announcement or defence (sender IP = target IP =
 * `acked`, §2.3, §2.4), 42–60 bytes with zero padding. Null when it may go; the refusal otherwise.
 */
export function checkArpEgress(f: Uint8Array, mac: Uint8Array, acked: string | undefined): EgressRejection | null {
  if (f.length < ARP_FRAME_BYTES) return reject("TOO_SHORT", `a ${f.length}-byte ARP frame is shorter than ${ARP_FRAME_BYTES} bytes`);
  if (f.length > MAX_ARP_FRAME_BYTES) return reject("TOO_LONG", `a ${f.length}-byte ARP frame exceeds ${MAX_ARP_FRAME_BYTES} bytes`);
  if (!allBytes(f, 0, 6, 0xff)) return reject("ARP", `ARP to ${macText(f, 0)}: probes and announcements are broadcast`);
  const a = ETH_HEADER;
  if (f[a] !== 0 || f[a + 1] !== 1 || f[a + 2] !== 0x08 || f[a + 3] !== 0x00 || f[a + 4] !== 6 || f[a + 5] !== 4) return reject("ARP", "the ARP packet is not Ethernet/IPv4");
  const op = (f[a + 6]! << 8) | f[a + 7]!;
  if (op !== ARP_REQUEST) return reject("ARP", `ARP operation ${op} is not a request (a client probes and announces with requests; the kernel answers)`);
  if (!equalBytes(f, a + 8, mac)) return reject("ARP_SENDER_MAC", `ARP sender hardware address ${macText(f, a + 8)} is not the interface's ${macText(mac)}`);
  if (!allBytes(f, a + 18, a + 24, 0)) return reject("ARP", "the ARP target hardware address is not zero (RFC 5227 §2.1.1)");
  if (!allBytes(f, ARP_FRAME_BYTES, f.length, 0)) return reject("ARP", "the ARP frame's padding is not zero");
  const sender = ipAt(f, a + 14);
  const target = ipAt(f, a + 24);
  if (acked === undefined) return reject("ARP_ADDRESS", `ARP for ${target}: no address has been ACKed to this client`);
  if (target !== acked) return reject("ARP_ADDRESS", `ARP for ${target}: only ${acked}, the ACKed address, may be probed or announced`);
  if (sender !== "0.0.0.0" && sender !== acked) return reject("ARP_ADDRESS", `ARP from ${sender} for ${target} is neither a probe (sender 0.0.0.0) nor an announcement (sender ${acked})`);
  return null;
}
