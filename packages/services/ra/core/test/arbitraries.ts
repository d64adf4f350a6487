/** fast-check arbitraries for valid ND values: what the encoder accepts and the decoder gives back. */

import fc from "fast-check";
import { formatIpv6, maskPrefix, type Ipv6Address, type NdOption, type RouterAdvertisement, type RouterSolicitation } from "../src/index.ts";

export const address = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b));
const masked = (length: number) => fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(maskPrefix(b, length)));
const u32 = fc.nat({ max: 0xffffffff });
const labelChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
const label = fc.string({ unit: labelChar, minLength: 1, maxLength: 63 });
const searchName = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
const KNOWN = new Set([1, 3, 5, 24, 25, 31, 38]);

export const ndOption: fc.Arbitrary<NdOption> = fc.oneof(
  fc.constantFrom(6, 14).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((address) => ({ kind: "sourceLinkLayer" as const, address })),
  u32.map((mtu) => ({ kind: "mtu" as const, mtu })),
  fc.record({
    kind: fc.constant("prefix" as const),
    prefixLength: fc.integer({ min: 0, max: 128 }),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    routerAddress: fc.boolean(),
    validLifetime: u32,
    preferredLifetime: u32,
    prefix: address,
  }),
  fc.integer({ min: 0, max: 128 }).chain((prefixLength) =>
    fc.record({
      kind: fc.constant("route" as const),
      prefixLength: fc.constant(prefixLength),
      preference: fc.constantFrom("high" as const, "medium" as const, "low" as const, "reserved" as const),
      lifetime: u32,
      prefix: masked(prefixLength),
    }),
  ),
  fc.record({ kind: fc.constant("rdnss" as const), lifetime: u32, servers: fc.array(address, { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant("dnssl" as const), lifetime: u32, names: fc.array(searchName, { minLength: 1, maxLength: 3 }) }),
  fc.constantFrom(96, 64, 56, 48, 40, 32).chain((prefixLength) =>
    fc.record({ kind: fc.constant("pref64" as const), lifetime: fc.nat({ max: 8191 }).map((s) => s * 8), prefixLength: fc.constant(prefixLength), prefix: masked(prefixLength) }),
  ),
  fc.record({
    kind: fc.constant("unknown" as const),
    type: fc.integer({ min: 0, max: 255 }).filter((t) => !KNOWN.has(t)),
    bytes: fc.integer({ min: 1, max: 4 }).chain((units) => fc.uint8Array({ minLength: units * 8 - 2, maxLength: units * 8 - 2 })),
  }),
);

export const routerAdvertisement: fc.Arbitrary<RouterAdvertisement> = fc.record({
  kind: fc.constant("ra" as const),
  curHopLimit: fc.integer({ min: 0, max: 255 }),
  managed: fc.boolean(),
  other: fc.boolean(),
  homeAgent: fc.boolean(),
  preference: fc.constantFrom("high" as const, "medium" as const, "low" as const),
  proxy: fc.boolean(),
  routerLifetime: fc.integer({ min: 0, max: 0xffff }),
  reachableTime: u32,
  retransTimer: u32,
  options: fc.array(ndOption, { maxLength: 12 }),
});

export const routerSolicitation: fc.Arbitrary<RouterSolicitation> = fc.record({ kind: fc.constant("rs" as const), options: fc.array(ndOption, { maxLength: 4 }) });

/** A link-local source for frames (fe80::/10). */
export const linkLocal: fc.Arbitrary<Ipv6Address> = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  b[0] = 0xfe;
  b[1] = 0x80 | (b[1]! & 0x3f);
  return formatIpv6(b);
});
