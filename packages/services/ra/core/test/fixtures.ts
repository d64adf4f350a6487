/**
 * Test support: a router and a host on one link, a Router Advertisement with every option kind
 * the codec reads, and a frame builder (the codec's own encoder, with the addressing a real router
 * uses and knobs to break each RFC 4861 §6.1 rule).
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readCapture } from "@paddock/dhcp4";
import { ALL_NODES, encodeIcmpv6Frame, encodeNdMessage, ipv6Bytes, type NdMessage, type RouterAdvertisement } from "../src/index.ts";
import type { Ipv6Address } from "../src/index.ts";

export const PUBLIC = join(import.meta.dirname, "../../../../../../shared/pcaps/public");
export const ROUTER_MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x00, 0x01);
export const HOST_MAC = Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
export const ROUTER = "fe80::1" as Ipv6Address;
export const ROUTER2 = "fe80::2" as Ipv6Address;
export const HOST_LL = "fe80::11:22ff:fe33:4455" as Ipv6Address;

/** An advertisement carrying one option of every kind the codec decodes, plus an unknown one. */
export function richRa(overrides: Partial<RouterAdvertisement> = {}): RouterAdvertisement {
  return {
    kind: "ra",
    curHopLimit: 64,
    managed: false,
    other: true,
    homeAgent: false,
    preference: "high",
    proxy: false,
    routerLifetime: 1800,
    reachableTime: 30_000,
    retransTimer: 1_000,
    options: [
      { kind: "sourceLinkLayer", address: ROUTER_MAC.slice() },
      { kind: "mtu", mtu: 1480 },
      { kind: "prefix", prefixLength: 64, onLink: true, autonomous: true, routerAddress: false, validLifetime: 86_400, preferredLifetime: 14_400, prefix: "2001:db8:1::" as Ipv6Address },
      { kind: "route", prefixLength: 48, preference: "low", lifetime: 3600, prefix: "2001:db8:100::" as Ipv6Address },
      { kind: "rdnss", lifetime: 600, servers: ["2001:db8:1::53" as Ipv6Address, "2001:db8:2::53" as Ipv6Address] },
      { kind: "dnssl", lifetime: 600, names: ["example.com", "lab.example.org"] },
      { kind: "pref64", lifetime: 1800, prefixLength: 96, prefix: "64:ff9b::" as Ipv6Address },
      { kind: "unknown", type: 200, bytes: Uint8Array.of(1, 2, 3, 4, 5, 6) },
    ],
    ...overrides,
  };
}

/** Addressing knobs: defaults are a well-behaved router's. */
export interface FrameKnobs {
  source?: string;
  destination?: string;
  hopLimit?: number;
}

/** A frame from the router holding `message`, checksum right. */
export function frameOf(message: NdMessage, knobs: FrameKnobs = {}): Uint8Array {
  return frameAround(icmpOf(message), knobs);
}

/**
 * A frame from the router around raw ICMPv6 bytes (for messages the encoder would refuse to make,
 * such as a zero-length option), with the checksum computed over them.
 */
export function frameAround(icmp: Uint8Array, knobs: FrameKnobs = {}): Uint8Array {
  const r = encodeIcmpv6Frame(icmp, {
    sourceMac: ROUTER_MAC,
    destinationMac: Uint8Array.of(0x33, 0x33, 0, 0, 0, 1),
    source: knobs.source ?? ROUTER,
    destination: knobs.destination ?? ALL_NODES,
    ...(knobs.hopLimit === undefined ? {} : { hopLimit: knobs.hopLimit }),
  });
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

/**
 * An ICMPv6 checksum written from RFC 4443 §2.3 and RFC 8200 §8.1 for the tests, independent of
 * the codec's (the captures check both against tshark besides).
 */
export function checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  const words: number[] = [];
  const push = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i += 2) words.push((b[i]! << 8) + (b[i + 1] ?? 0));
  };
  push(src);
  push(dst);
  words.push(icmp.length >>> 16, icmp.length & 0xffff, 0, 58);
  push(icmp);
  let sum = words.reduce((a, w) => a + w, 0);
  while (sum > 0xffff) sum = (sum >>> 16) + (sum & 0xffff);
  return 0xffff - sum;
}

/** The ICMPv6 bytes of an advertisement, checksum field 0. */
export function icmpOf(message: NdMessage): Uint8Array {
  const r = encodeNdMessage(message);
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

/** Every frame of a public capture (all are Ethernet). */
export function captureFrames(file: string): Uint8Array[] {
  const c = readCapture(new Uint8Array(readFileSync(join(PUBLIC, "zeek", `${file}.pcap`))));
  if (!c.ok) throw new Error(c.error.detail);
  return c.value.packets.map((p) => p.data.slice());
}

/** 16 bytes of an address text (tests only pass valid ones). */
export const bytesOf = (text: string): Uint8Array => ipv6Bytes(text)!;
