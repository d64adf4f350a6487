/**
 * The DHCP client's operator settings (issue 13 A5): how it identifies itself, what it tells the
 * server and asks of it, and what it does when nobody answers at reboot. Each is a service option
 * (so `--set`, the flags of `paddock dhcp` and the configuration file all reach it, validated the
 * same way) that the priv turns into a `/config/…` key the calf reads — and, when the option is
 * `live`, watches, so a reload reaches a running client without touching its lease.
 *
 * The client identifier is not live: the priv fixes it at start and its egress check allows no
 * other (a server keys the lease on it, so changing it is becoming another client).
 */
import { domainName, hostname, type Parsed } from "@paddock/kv";
import { ServiceOptionError, type OptionDefinition } from "@paddock/runtime";

/** RFC 2132 §9.13: option 60 holds 1–255 bytes. */
export const MAX_VENDOR_CLASS_BYTES = 255;
/** RFC 8415 §11.1: a DUID is a 2-byte type and at most 128 bytes. */
const DUID_BYTES = { min: 3, max: 130 } as const;
/** RFC 2132 §9.14: a client identifier is at least 2 bytes; one option holds 255. */
const CLIENT_ID_BYTES = { min: 2, max: 255 } as const;
/** Option 55 is one option of at most 255 codes (the core sends it unsplit). */
const MAX_REQUEST_OPTIONS = 255;

/** Hex bytes, "0a1b2c" or "0a:1b:2c" (any case), as bytes; undefined when not hex. */
function hexBytes(text: string): Uint8Array | undefined {
  const plain = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(text) ? text.replaceAll(":", "") : text;
  if (!/^([0-9a-fA-F]{2})+$/.test(plain)) return undefined;
  return Uint8Array.from(plain.match(/../g)!, (h) => parseInt(h, 16));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * A vendor class identifier (option 60) as configured: printable ASCII (space to '~'), 1–255
 * bytes. Printable because it is shown in logs, `paddock kv get` and the server's logs; servers
 * match it as text (dnsmasq's --dhcp-vendorclass, Kea's client classes).
 */
export function vendorClassText(v: string): Parsed<string> {
  if (v.length === 0) return { ok: false, reason: "the vendor class is empty" };
  if (!/^[\x20-\x7e]+$/.test(v)) return { ok: false, reason: "the vendor class has a character that is not printable ASCII" };
  if (v.length > MAX_VENDOR_CLASS_BYTES) return { ok: false, reason: `the vendor class is longer than ${MAX_VENDOR_CLASS_BYTES} bytes` };
  return { ok: true, value: v };
}

/** A parameter request list (option 55) in its key form: codes 1–254 separated by single spaces, e.g. "1 3 6 15". */
export function requestOptionsText(v: string): Parsed<readonly number[]> {
  const parts = v.split(" ");
  if (parts.length > MAX_REQUEST_OPTIONS) return { ok: false, reason: `more than ${MAX_REQUEST_OPTIONS} option codes` };
  const codes: number[] = [];
  for (const p of parts) {
    if (!/^[1-9][0-9]{0,2}$/.test(p) || Number(p) > 254) return { ok: false, reason: `${JSON.stringify(p.slice(0, 8))} is not an option code 1–254` };
    codes.push(Number(p));
  }
  return { ok: true, value: codes };
}

/** The request-options setting as an operator writes it ("1, 3, 6" or "1 3 6") in its key form, or undefined. */
function requestOptionsKey(setting: string): string | undefined {
  const text = setting.trim().split(/\s*[,\s]\s*/).join(" ");
  return requestOptionsText(text).ok ? text : undefined;
}

/** The client-id setting: duid, mac, none, or the bytes of option 61 in hex. */
function clientIdSetting(v: string): "duid" | "mac" | "none" | Uint8Array | undefined {
  if (v === "duid" || v === "mac" || v === "none") return v;
  const b = hexBytes(v);
  return b !== undefined && b.length >= CLIENT_ID_BYTES.min && b.length <= CLIENT_ID_BYTES.max ? b : undefined;
}

const text = (check: (v: string) => boolean, must: string) => (v: string | boolean | number) => (typeof v === "string" && check(v) ? undefined : must);

/** The options this module adds to the DHCP client service (spread into its definition's options). */
export const clientOptions = {
  "client-id": {
    kind: "string",
    default: "duid",
    description: "the client identifier (option 61): duid (RFC 4361, DUID-LL from the MAC; see iaid and duid), mac (hardware type 1 and the MAC), none, or its bytes in hex",
    validate: text((v) => clientIdSetting(v) !== undefined, `must be duid, mac, none or ${CLIENT_ID_BYTES.min}–${CLIENT_ID_BYTES.max} bytes of hex`),
  },
  iaid: {
    kind: "number",
    description: "with client-id duid: the IAID (default: the MAC's last four bytes)",
    validate: (v: string | boolean | number) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? undefined : "must be a number 0–4294967295"),
  },
  duid: {
    kind: "string",
    description: "with client-id duid: the DUID in hex (default: DUID-LL from the MAC, 00030001 and the MAC)",
    validate: text((v) => {
      const b = hexBytes(v);
      return b !== undefined && b.length >= DUID_BYTES.min && b.length <= DUID_BYTES.max;
    }, `must be ${DUID_BYTES.min}–${DUID_BYTES.max} bytes of hex`),
  },
  "vendor-class": {
    kind: "string",
    live: true,
    description: "vendor class identifier to send (option 60): printable ASCII, at most 255 bytes",
    validate: text((v) => vendorClassText(v).ok, `must be printable ASCII, 1–${MAX_VENDOR_CLASS_BYTES} bytes`),
  },
  fqdn: {
    kind: "string",
    live: true,
    description: "fully qualified name to send (option 81, the server updates DNS); not together with hostname",
    validate: text((v) => domainName(v).ok, "must be a domain name (letters, digits, '-', '_', dots)"),
  },
  "request-options": {
    kind: "string",
    live: true,
    description: "the options to request (option 55), codes 1–254 separated by commas (default 1, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119, 121)",
    validate: text((v) => requestOptionsKey(v) !== undefined, "must be option codes 1–254 separated by commas"),
  },
  "ipv6-only-preferred": {
    kind: "boolean",
    default: false,
    live: true,
    description: "RFC 8925: ask for option 108 and, when a server's offer carries it, take no IPv4 address and pause DHCPv4 for the time it gives (at least 300 s); only for a host that works without IPv4 (IPv6 with NAT64/DNS64 or a CLAT)",
  },
  "keep-lease-on-reboot-timeout": {
    kind: "boolean",
    default: true,
    live: true,
    description: "keep a valid lease when no server answers at reboot (RFC 2131 §3.2); false: withdraw it and start over",
  },
} as const satisfies Readonly<Record<string, OptionDefinition>>;

/** Checks for the host name option (option 12): a host name as sethostname() and the store take it. */
export const hostnameValidate = text((v) => hostname(v).ok, "must be a host name (letters, digits, '-', '_', dots; at most 64 bytes)");

/** The option values the client's keys come from. */
export interface ClientSettings {
  /** Undefined: the default, duid. */
  readonly "client-id": string | undefined;
  readonly iaid: number | undefined;
  readonly duid: string | undefined;
  readonly "vendor-class": string | undefined;
  readonly fqdn: string | undefined;
  readonly "request-options": string | undefined;
  readonly "keep-lease-on-reboot-timeout": boolean;
  readonly "ipv6-only-preferred": boolean;
  readonly hostname: string | undefined;
  readonly "release-on-exit": boolean;
  readonly "log-level": string | undefined;
  readonly "min-lease-seconds": number;
}

/**
 * The client identifier the priv fixes for an interface, from the client-id, iaid and duid
 * settings: option 61's bytes, or null for none. RFC 4361 §6.1's default form is 255, the IAID,
 * then the DUID; `mac` is RFC 2132 §9.14's hardware type 1 and the address.
 */
export function fixedClientId(o: Pick<ClientSettings, "client-id" | "iaid" | "duid">, mac: Uint8Array): Uint8Array | null {
  const setting = clientIdSetting(o["client-id"] ?? "duid");
  if (setting === undefined) throw new ServiceOptionError(`option client-id of dhcp4 must be duid, mac, none or hex bytes, not ${JSON.stringify(o["client-id"])}`);
  if (setting !== "duid" && (o.iaid !== undefined || o.duid !== undefined)) {
    throw new ServiceOptionError(`options iaid and duid of dhcp4 go with client-id duid, not ${o["client-id"]}`);
  }
  if (setting === "none") return null;
  if (setting === "mac") return Uint8Array.of(1, ...mac);
  if (setting instanceof Uint8Array) return setting;
  const iaid = o.iaid ?? ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0;
  const duid = o.duid !== undefined ? hexBytes(o.duid)! : Uint8Array.of(0, 3, 0, 1, ...mac);
  const id = Uint8Array.of(255, (iaid >>> 24) & 255, (iaid >>> 16) & 255, (iaid >>> 8) & 255, iaid & 255, ...duid);
  if (id.length > CLIENT_ID_BYTES.max) throw new ServiceOptionError(`option duid of dhcp4 makes a client identifier longer than ${CLIENT_ID_BYTES.max} bytes`);
  return id;
}

/** /config/client-id's text: the identifier in lower-case hex, or "none". */
export function clientIdKey(id: Uint8Array | null): string {
  return id === null ? "none" : hex(id);
}

/**
 * The /config keys of the settings a reload may change, computed whole (null: delete). Throws
 * ServiceOptionError for a combination the client cannot use.
 */
export function liveConfigKeys(o: ClientSettings): Record<string, string | null> {
  if (o.hostname !== undefined && o.fqdn !== undefined) {
    throw new ServiceOptionError("options hostname and fqdn of dhcp4 are alternatives (RFC 4702 §3: a client sends option 12 or 81, not both): set one");
  }
  if (o["ipv6-only-preferred"] !== true && o["request-options"] !== undefined && requestOptionsKey(o["request-options"])!.split(" ").includes("108")) {
    throw new ServiceOptionError("option request-options of dhcp4 lists 108 (IPv6-only preferred, RFC 8925): set ipv6-only-preferred instead, which also makes the client act on the answer");
  }
  return {
    "/config/hostname": o.hostname ?? null,
    "/config/fqdn": o.fqdn ?? null,
    "/config/vendor-class": o["vendor-class"] ?? null,
    "/config/request-options": o["request-options"] === undefined ? null : requestOptionsKey(o["request-options"])!,
    "/config/keep-lease-on-reboot": o["keep-lease-on-reboot-timeout"] ? "true" : "false",
    "/config/ipv6-only-preferred": o["ipv6-only-preferred"] ? "true" : "false",
    "/config/release-on-stop": o["release-on-exit"] ? "true" : "false",
    "/config/log-level": o["log-level"] ?? "info",
    "/config/min-lease": String(o["min-lease-seconds"]),
  };
}
