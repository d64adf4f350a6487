/**
 * DHCP Unique Identifiers (RFC 8415 §11): decoded by type, unknown types kept as bytes, and the
 * builders a client uses for its own (DUID-LL from the MAC, DUID-LLT with a caller-kept time,
 * DUID-UUID from a caller-supplied UUID, RFC 6355).
 */

import { copyOf, isUint, pushUint, u16At, u32At } from "./bytes.ts";
import { MAX_DUID_BYTES } from "./constants.ts";
import { Dhcp6ErrorCode, fail, ok, type Dhcp6Result } from "./result.ts";

/** RFC 8415 §11.1 DUID type codes. */
export const DuidType = { LLT: 1, EN: 2, LL: 3, UUID: 4 } as const;

/** IANA ARP hardware type of Ethernet, the link-layer type of a DUID built from a MAC. */
export const HARDWARE_TYPE_ETHERNET = 1;

/** RFC 8415 §11.2: DUID-LLT time counts seconds from midnight UTC, 1 January 2000. */
export const DUID_TIME_EPOCH_UNIX_MS = Date.UTC(2000, 0, 1);

/** A decoded DUID. `unknown` keeps a type this core does not know, byte for byte. */
export type Duid =
  /** RFC 8415 §11.2: link-layer address plus time (seconds since 2000-01-01 UTC, mod 2^32). */
  | { type: "llt"; hardwareType: number; time: number; linkLayer: Uint8Array }
  /** RFC 8415 §11.3: vendor-assigned, by IANA enterprise number. */
  | { type: "en"; enterprise: number; identifier: Uint8Array }
  /** RFC 8415 §11.4: link-layer address. */
  | { type: "ll"; hardwareType: number; linkLayer: Uint8Array }
  /** RFC 6355 §4: a 16-byte UUID. */
  | { type: "uuid"; uuid: Uint8Array }
  | { type: "unknown"; duidType: number; data: Uint8Array };

/** Decodes the DUID that fills `data` (an option's whole value). */
export function decodeDuid(data: Uint8Array): Dhcp6Result<Duid> {
  if (data.length < 3) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID of ${data.length} bytes is shorter than its 2-byte type and 1 byte of identifier`);
  if (data.length > MAX_DUID_BYTES) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID of ${data.length} bytes is longer than RFC 8415's ${MAX_DUID_BYTES}`);
  const type = u16At(data, 0);
  switch (type) {
    case DuidType.LLT:
      if (data.length < 8) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID-LLT of ${data.length} bytes is shorter than its 8-byte header`);
      return ok({ type: "llt", hardwareType: u16At(data, 2), time: u32At(data, 4), linkLayer: copyOf(data, 8, data.length) });
    case DuidType.EN:
      if (data.length < 6) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID-EN of ${data.length} bytes is shorter than its 6-byte header`);
      return ok({ type: "en", enterprise: u32At(data, 2), identifier: copyOf(data, 6, data.length) });
    case DuidType.LL:
      if (data.length < 4) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID-LL of ${data.length} bytes is shorter than its 4-byte header`);
      return ok({ type: "ll", hardwareType: u16At(data, 2), linkLayer: copyOf(data, 4, data.length) });
    case DuidType.UUID:
      if (data.length !== 18) return fail(Dhcp6ErrorCode.BAD_DUID, `a DUID-UUID of ${data.length} bytes is not 2 + 16 bytes`);
      return ok({ type: "uuid", uuid: copyOf(data, 2, 18) });
    default:
      return ok({ type: "unknown", duidType: type, data: copyOf(data, 2, data.length) });
  }
}

/** The wire bytes of a DUID, or why it cannot be encoded. */
export function encodeDuid(duid: Duid): Dhcp6Result<Uint8Array> {
  const out: number[] = [];
  switch (duid.type) {
    case "llt":
      if (!isUint(duid.hardwareType, 16) || !isUint(duid.time, 32)) return fail(Dhcp6ErrorCode.UNENCODABLE, "a DUID-LLT's hardware type must fit 16 bits and its time 32 bits");
      pushUint(out, DuidType.LLT, 2);
      pushUint(out, duid.hardwareType, 2);
      pushUint(out, duid.time, 4);
      out.push(...duid.linkLayer);
      break;
    case "en":
      if (!isUint(duid.enterprise, 32)) return fail(Dhcp6ErrorCode.UNENCODABLE, "a DUID-EN's enterprise number must fit 32 bits");
      pushUint(out, DuidType.EN, 2);
      pushUint(out, duid.enterprise, 4);
      out.push(...duid.identifier);
      break;
    case "ll":
      if (!isUint(duid.hardwareType, 16)) return fail(Dhcp6ErrorCode.UNENCODABLE, "a DUID-LL's hardware type must fit 16 bits");
      pushUint(out, DuidType.LL, 2);
      pushUint(out, duid.hardwareType, 2);
      out.push(...duid.linkLayer);
      break;
    case "uuid":
      if (duid.uuid.length !== 16) return fail(Dhcp6ErrorCode.UNENCODABLE, `a DUID-UUID holds 16 bytes, not ${duid.uuid.length}`);
      pushUint(out, DuidType.UUID, 2);
      out.push(...duid.uuid);
      break;
    case "unknown":
      // Type 0 is reserved, not one of ours: a server may still send it, and it is kept like any other.
      if (!isUint(duid.duidType, 16) || (duid.duidType >= DuidType.LLT && duid.duidType <= DuidType.UUID)) return fail(Dhcp6ErrorCode.UNENCODABLE, `DUID type ${duid.duidType} is not an unknown 16-bit type`);
      pushUint(out, duid.duidType, 2);
      out.push(...duid.data);
      break;
  }
  // Decoding must accept what we encode: the same bounds both ways.
  const bytes = Uint8Array.from(out);
  const back = decodeDuid(bytes);
  if (!back.ok) return fail(Dhcp6ErrorCode.UNENCODABLE, back.error.detail);
  return ok(bytes);
}

/** DUID-LL from an interface's MAC address (RFC 8415 §11.4), the default client DUID. */
export function duidFromMac(mac: Uint8Array): Duid {
  return { type: "ll", hardwareType: HARDWARE_TYPE_ETHERNET, linkLayer: copyOf(mac, 0, mac.length) };
}

/**
 * DUID-LLT from a MAC and the time it was first made (RFC 8415 §11.2). The caller stores
 * `time` and passes the same value on every start, so the DUID stays the same.
 */
export function duidLltFromMac(mac: Uint8Array, time: number): Duid {
  return { type: "llt", hardwareType: HARDWARE_TYPE_ETHERNET, time, linkLayer: copyOf(mac, 0, mac.length) };
}

/** The DUID-LLT time field for a Unix time in milliseconds (seconds since 2000, mod 2^32). */
export function duidTimeFromUnixMs(unixMs: number): number {
  return Math.floor((unixMs - DUID_TIME_EPOCH_UNIX_MS) / 1000) >>> 0;
}

/** DUID-UUID (RFC 6355) from a UUID given as 16 bytes or as text ("0f1e…" with or without dashes), or null. */
export function duidFromUuid(uuid: Uint8Array | string): Duid | null {
  let bytes: Uint8Array;
  if (typeof uuid === "string") {
    const hex = uuid.replaceAll("-", "");
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
    bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  } else {
    if (uuid.length !== 16) return null;
    bytes = copyOf(uuid, 0, 16);
  }
  return { type: "uuid", uuid: bytes };
}

/** Lowercase colon-separated hex of a DUID's wire bytes ("00:03:00:01:…"), its usual text. */
export function duidText(duid: Duid): string {
  const bytes = encodeDuid(duid);
  const b = bytes.ok ? bytes.value : new Uint8Array(0);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}
