/**
 * Interface identifiers for SLAAC addresses, and which addresses should exist now.
 *
 * - Stable ones per RFC 7217 ("semantically opaque"): the same on the same network and prefix,
 *   different on every other network, and not derived from the MAC, so a host cannot be tracked
 *   across networks by its address.
 * - Temporary ones per RFC 8981 (privacy extensions): random, replaced about once a day.
 *
 * Pure and import-free like the rest of the core: the priv's SLAAC handler imports it.
 */

import { INFINITE_LIFETIME } from "./constants.ts";
import { formatIpv6, ipv6Bytes, type Ipv6Address } from "./ipv6.ts";
import { RaErrorCode, fail, ok, type RaResult } from "./result.ts";
import { sha256 } from "./sha256.ts";

/** RFC 7217 §5: the secret key is at least 128 bits. */
export const MIN_SECRET_BYTES = 16;
/** RFC 7217 §7: IDGEN_RETRIES, how often a host tries another DAD counter after a duplicate. */
export const IDGEN_RETRIES = 3;
/**
 * Counter values {@link stableIid} tries past a reserved identifier. A reserved one comes up with
 * odds of about 2^-40 per try, so 16 is unreachable in practice; it only bounds the loop.
 */
export const MAX_IID_ATTEMPTS = 16;
/** Bytes in an interface identifier: SLAAC addresses here are a /64 prefix and a 64-bit identifier (RFC 4291 §2.5.1). */
export const IID_BYTES = 8;
/** The only prefix length RFC 4862 SLAAC with 64-bit identifiers can use (§5.5.3 d). */
export const SLAAC_PREFIX_LENGTH = 64;

/** RFC 8981 §3.8: TEMP_VALID_LIFETIME, 2 days (seconds). */
export const TEMP_VALID_LIFETIME = 2 * 86_400;
/** RFC 8981 §3.8: TEMP_PREFERRED_LIFETIME, 1 day (seconds). */
export const TEMP_PREFERRED_LIFETIME = 86_400;
/** RFC 8981 §3.8: TEMP_IDGEN_RETRIES. */
export const TEMP_IDGEN_RETRIES = 3;
/**
 * RFC 8981 §3.8: REGEN_ADVANCE = 2 + TEMP_IDGEN_RETRIES × DupAddrDetectTransmits × RetransTimer,
 * with the RFC 4862 defaults (1 transmission, RetransTimer 1 s): 5 seconds. A new temporary
 * address is made this long before the current one stops being preferred.
 */
export const REGEN_ADVANCE = 2 + (TEMP_IDGEN_RETRIES * 1 * 1_000) / 1_000;
/** RFC 8981 §3.8: MAX_DESYNC_FACTOR = 0.4 × TEMP_PREFERRED_LIFETIME (seconds). */
export const MAX_DESYNC_FACTOR = 0.4 * TEMP_PREFERRED_LIFETIME;

/** A source of cryptographically random bytes (the calf host's `random`, node:crypto's randomBytes). */
export type RandomBytes = (count: number) => Uint8Array;

/** Whether a 64-bit identifier is reserved by RFC 5453 §3 (so an address must not use it). */
export function isReservedIid(iid: Uint8Array): boolean {
  const hi = ((iid[0]! << 24) | (iid[1]! << 16) | (iid[2]! << 8) | iid[3]!) >>> 0;
  const lo = ((iid[4]! << 24) | (iid[5]! << 16) | (iid[6]! << 8) | iid[7]!) >>> 0;
  // Subnet-router anycast (RFC 4291 §2.6.1).
  if (hi === 0 && lo === 0) return true;
  // Reserved subnet anycast (RFC 2526): fdff:ffff:ffff:ff80 – fdff:ffff:ffff:ffff.
  if (hi === 0xfdffffff && lo >= 0xffffff80) return true;
  // Proxy Mobile IPv6 and reserved (RFC 5453 §3): 0200:5eff:fe00:0000 – 0200:5eff:feff:ffff.
  return hi === 0x02005eff && lo >>> 24 === 0xfe;
}

/** UTF-8 bytes of a text (the core has no TextEncoder on every engine it runs on). */
function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** A stable identifier and the DAD counter it was made with. */
export interface StableIid {
  iid: Uint8Array;
  /** The counter used: `dadCounter`, or more when a lower one gave a reserved identifier. */
  dadCounter: number;
}

/**
 * RFC 7217 §5: RID = F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key), F = SHA-256 of
 * the concatenation, the identifier its 64 least significant bits (§5 step 2: "starting at the
 * least significant bit"). The encodings the RFC leaves open, fixed here so an identifier never
 * changes between releases: Prefix is the prefix's first 8 bytes (/64); Net_Iface the interface
 * name in UTF-8; Network_ID as given (empty when there is none, e.g. a wired link); DAD_Counter
 * one byte. A reserved identifier (RFC 5453) moves on to the next counter (§5 step 3 does so for
 * a duplicate too; the handler passes the counter DAD failures have raised it to).
 */
export function stableIid(secret: Uint8Array, prefix: string, netIface: string, networkId: Uint8Array, dadCounter: number): RaResult<StableIid> {
  if (secret.length < MIN_SECRET_BYTES) return fail(RaErrorCode.BAD_SECRET, `The RFC 7217 secret is ${secret.length * 8} bits; it needs at least 128.`);
  const prefixBytes = ipv6Bytes(prefix);
  if (prefixBytes === null) return fail(RaErrorCode.BAD_ADDRESS, `${JSON.stringify(prefix.slice(0, 64))} is not an IPv6 prefix.`);
  if (!Number.isInteger(dadCounter) || dadCounter < 0 || dadCounter > 255 - MAX_IID_ATTEMPTS) {
    return fail(RaErrorCode.BAD_SECRET, `DAD counter ${dadCounter} is not 0–${255 - MAX_IID_ATTEMPTS}.`);
  }
  const iface = utf8(netIface);
  const input = new Uint8Array(IID_BYTES + iface.length + networkId.length + 1 + secret.length);
  input.set(prefixBytes.subarray(0, IID_BYTES), 0);
  input.set(iface, IID_BYTES);
  input.set(networkId, IID_BYTES + iface.length);
  const counterAt = IID_BYTES + iface.length + networkId.length;
  input.set(secret, counterAt + 1);
  for (let counter = dadCounter; counter < dadCounter + MAX_IID_ATTEMPTS; counter++) {
    input[counterAt] = counter;
    const iid = sha256(input).slice(32 - IID_BYTES);
    if (!isReservedIid(iid)) return ok({ iid, dadCounter: counter });
  }
  return fail(RaErrorCode.NO_IID, `Every DAD counter from ${dadCounter} gave a reserved interface identifier.`);
}

/**
 * RFC 8981 §3.3.1: a random 64-bit identifier, never a reserved one (RFC 5453) nor `avoid`
 * (the stable identifier on the same prefix).
 */
export function temporaryIid(random: RandomBytes, avoid?: Uint8Array): RaResult<Uint8Array> {
  for (let attempt = 0; attempt < MAX_IID_ATTEMPTS; attempt++) {
    const iid = random(IID_BYTES).slice(0, IID_BYTES);
    if (iid.length !== IID_BYTES) return fail(RaErrorCode.BAD_SECRET, "The random source gave fewer than 8 bytes.");
    if (!isReservedIid(iid) && (avoid === undefined || iid.some((b, i) => b !== avoid[i]))) return ok(iid);
  }
  return fail(RaErrorCode.NO_IID, "The random source gave only reserved interface identifiers.");
}

/** The address made of a /64 prefix and an identifier. */
export function addressOf(prefix: string, iid: Uint8Array): RaResult<Ipv6Address> {
  const bytes = ipv6Bytes(prefix);
  if (bytes === null) return fail(RaErrorCode.BAD_ADDRESS, `${JSON.stringify(prefix.slice(0, 64))} is not an IPv6 prefix.`);
  bytes.set(iid.subarray(0, IID_BYTES), IID_BYTES);
  return ok(formatIpv6(bytes));
}

/** An autonomous prefix as the client's snapshot holds it (see `PrefixEntry`). */
export interface SlaacPrefix {
  prefix: Ipv6Address;
  prefixLength: number;
  /** Present when the prefix may be used for SLAAC: expiries in the caller's monotonic milliseconds, Infinity for never. */
  autonomous: { validUntil: number; preferredUntil: number } | undefined;
}

/** A temporary address the handler made earlier and keeps (in the same clock as `now`). */
export interface TemporaryAddress {
  address: Ipv6Address;
  prefix: Ipv6Address;
  /** When it was made, monotonic milliseconds. */
  createdAt: number;
  /** RFC 8981 §3.8 DESYNC_FACTOR drawn for it, seconds. */
  desyncFactor: number;
}

/** One address that should exist now. */
export interface SlaacAddress {
  kind: "stable" | "temporary";
  address: Ipv6Address;
  /** Always 64. */
  prefixLength: number;
  prefix: Ipv6Address;
  /** Seconds left, or {@link INFINITE_LIFETIME} (what the kernel takes as "forever"). */
  validLifetime: number;
  /** Seconds left (0: deprecated), or {@link INFINITE_LIFETIME}. */
  preferredLifetime: number;
  /** For `stable`: the DAD counter used. */
  dadCounter: number | undefined;
  /** For `temporary`: what to keep and pass back next time. */
  temporary: TemporaryAddress | undefined;
}

/** What {@link slaacAddresses} needs besides the prefixes. */
export interface SlaacOptions {
  /** The RFC 7217 secret, at least 128 bits (the priv's, made once and kept in its state dir). */
  secret: Uint8Array;
  /** The interface's name. */
  netIface: string;
  /** RFC 7217 Network_ID (e.g. a Wi-Fi SSID); empty or absent on a wired link. */
  networkId?: Uint8Array;
  /** DAD counters raised by duplicates, by prefix text; absent means 0. */
  dadCounters?: ReadonlyMap<string, number>;
  /** RFC 8981 temporary addresses: absent means none. */
  temporary?: {
    /** The temporary addresses made earlier (what the last call returned). */
    existing: readonly TemporaryAddress[];
    random: RandomBytes;
    /** Defaults {@link TEMP_VALID_LIFETIME} and {@link TEMP_PREFERRED_LIFETIME} (seconds). */
    validLifetime?: number;
    preferredLifetime?: number;
  };
}

/** Seconds left until a monotonic-milliseconds expiry, or INFINITE_LIFETIME for Infinity. */
function secondsLeft(until: number, now: number): number {
  if (until === Number.POSITIVE_INFINITY) return INFINITE_LIFETIME;
  return Math.max(0, Math.floor((until - now) / 1_000));
}

/** A uniform number in [0, 1) from 4 random bytes. */
function unitRandom(random: RandomBytes): number {
  const b = random(4);
  return ((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0) / 2 ** 32;
}

/**
 * The SLAAC addresses that should exist at `now` (monotonic milliseconds, the clock of the
 * prefixes' expiries): one stable address per autonomous /64 prefix with valid lifetime left, and
 * with `temporary` set, RFC 8981 temporary addresses:
 * - each kept one's lifetimes are the lower of its prefix's and of its own age limits
 *   (TEMP_VALID_LIFETIME, TEMP_PREFERRED_LIFETIME − DESYNC_FACTOR), §3.4;
 * - a new one is made when no temporary address on a preferred prefix stays preferred for more
 *   than REGEN_ADVANCE (§3.5), unless its preferred lifetime would not exceed REGEN_ADVANCE.
 * Expired ones are left out: whatever the handler added and is not in the list is to be removed.
 */
export function slaacAddresses(prefixes: readonly SlaacPrefix[], now: number, opts: SlaacOptions): RaResult<SlaacAddress[]> {
  const out: SlaacAddress[] = [];
  const temp = opts.temporary;
  const tempValid = temp?.validLifetime ?? TEMP_VALID_LIFETIME;
  const tempPreferred = temp?.preferredLifetime ?? TEMP_PREFERRED_LIFETIME;
  for (const p of prefixes) {
    const auto = p.autonomous;
    if (auto === undefined || p.prefixLength !== SLAAC_PREFIX_LENGTH || auto.validUntil <= now) continue;
    const validLifetime = secondsLeft(auto.validUntil, now);
    const preferredLifetime = secondsLeft(Math.min(auto.preferredUntil, auto.validUntil), now);
    const stable = stableIid(opts.secret, p.prefix, opts.netIface, opts.networkId ?? new Uint8Array(0), opts.dadCounters?.get(p.prefix) ?? 0);
    if (!stable.ok) return stable;
    const address = addressOf(p.prefix, stable.value.iid);
    if (!address.ok) return address;
    out.push({ kind: "stable", address: address.value, prefixLength: SLAAC_PREFIX_LENGTH, prefix: p.prefix, validLifetime, preferredLifetime, dadCounter: stable.value.dadCounter, temporary: undefined });
    if (temp === undefined) continue;

    // RFC 8981 §3.4: a temporary address lives no longer than its prefix nor than its own limits.
    const lifetimesOf = (t: TemporaryAddress) => {
      const ageS = (now - t.createdAt) / 1_000;
      const valid = Math.min(validLifetime, Math.floor(tempValid - ageS));
      const preferred = Math.min(preferredLifetime, Math.floor(tempPreferred - t.desyncFactor - ageS), valid);
      return { valid: Math.max(0, valid), preferred: Math.max(0, preferred) };
    };
    let fresh = false;
    for (const t of temp.existing) {
      if (t.prefix !== p.prefix) continue;
      const l = lifetimesOf(t);
      if (l.valid <= 0) continue;
      out.push({ kind: "temporary", address: t.address, prefixLength: SLAAC_PREFIX_LENGTH, prefix: p.prefix, validLifetime: l.valid, preferredLifetime: l.preferred, dadCounter: undefined, temporary: t });
      if (l.preferred > REGEN_ADVANCE) fresh = true;
    }
    if (fresh || preferredLifetime <= REGEN_ADVANCE) continue;
    // §3.8: DESYNC_FACTOR is drawn for each new address, below MAX_DESYNC_FACTOR (scaled with a configured preferred lifetime).
    const desyncFactor = Math.floor(unitRandom(temp.random) * Math.min(MAX_DESYNC_FACTOR, 0.4 * tempPreferred));
    const iid = temporaryIid(temp.random, stable.value.iid);
    if (!iid.ok) return iid;
    const tempAddress = addressOf(p.prefix, iid.value);
    if (!tempAddress.ok) return tempAddress;
    const made: TemporaryAddress = { address: tempAddress.value, prefix: p.prefix, createdAt: now, desyncFactor };
    const l = lifetimesOf(made);
    if (l.preferred <= REGEN_ADVANCE) continue;
    out.push({ kind: "temporary", address: made.address, prefixLength: SLAAC_PREFIX_LENGTH, prefix: p.prefix, validLifetime: l.valid, preferredLifetime: l.preferred, dadCounter: undefined, temporary: made });
  }
  return ok(out);
}
