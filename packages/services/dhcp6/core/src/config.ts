/**
 * The client's configuration: what the caller chooses (mode, IAs, DUID, IAID, rapid commit) and
 * the injected random source; checked once into a resolved form the machine uses as it is.
 */

import { isUint } from "./bytes.ts";
import { OptionCode } from "./constants.ts";
import { duidFromMac, duidFromUuid, duidLltFromMac, encodeDuid, type Duid } from "./duid.ts";
import { Dhcp6ErrorCode, type Dhcp6Error } from "./result.ts";

/** How the client's DUID is made (RFC 8415 §11). */
export type DuidConfig =
  /** DUID-LL from the interface's MAC (§11.4): stable as long as the MAC is. */
  | { kind: "ll"; mac: Uint8Array }
  /** DUID-LLT (§11.2): `time` (duidTimeFromUnixMs) is chosen once by the caller and stored. */
  | { kind: "llt"; mac: Uint8Array; time: number }
  /** DUID-UUID (RFC 6355) from a UUID the caller supplies (e.g. /etc/machine-id). */
  | { kind: "uuid"; uuid: Uint8Array | string }
  /** A DUID kept from before, used as it is. */
  | { kind: "duid"; duid: Duid };

/** What the caller configures. */
export interface Dhcp6ClientConfig {
  /**
   * `stateful`: addresses (IA_NA) and/or delegated prefixes (IA_PD) by SOLICIT/REQUEST (the RA's
   * M flag); `stateless`: only other configuration, by INFORMATION-REQUEST (the RA's O flag).
   */
  mode: "stateful" | "stateless";
  /** Stateful: ask for an address (IA_NA). Default true. */
  address?: boolean;
  /** Stateful: ask for a delegated prefix (IA_PD); `{ length }` hints the prefix length wanted. Default false. */
  prefix?: boolean | { length: number };
  /** The IAID of both IAs (RFC 8415 §12: stable across restarts; chosen by the caller, e.g. from the ifindex or MAC). */
  iaid: number;
  duid: DuidConfig;
  /** Offer rapid commit (two-message exchange, RFC 8415 §18.2.1). Default true. */
  rapidCommit?: boolean;
  /** More option codes for the ORO, besides DNS_SERVERS, DOMAIN_LIST, SOL_MAX_RT/INF_MAX_RT, IRT. */
  requestOptions?: readonly number[];
  /** Uniform random numbers in [0, 1): jitter (RAND) and transaction ids. */
  random: () => number;
}

/** A configuration the client cannot use, with a stable code and one sentence. */
export type Dhcp6ConfigError = Dhcp6Error & { code: typeof Dhcp6ErrorCode.BAD_CONFIG };

/** The configuration checked and filled in. */
export interface ResolvedConfig {
  readonly mode: "stateful" | "stateless";
  readonly address: boolean;
  /** Undefined: no IA_PD; 0: IA_PD without a length hint. */
  readonly prefixLength: number | undefined;
  readonly iaid: number;
  readonly duid: Duid;
  /** The DUID's wire bytes (what CLIENTID options of replies must equal). */
  readonly duidBytes: Uint8Array;
  readonly rapidCommit: boolean;
  /** The ORO this client sends (RFC 8415 §18.2: SOL_MAX_RT with SOLICIT, INF_MAX_RT and IRT with INFORMATION-REQUEST). */
  readonly requestOptions: readonly number[];
  readonly random: () => number;
}

/** RFC 8415 §21.7: codes a client must not put in an ORO (they are not "options to be returned"). */
const NOT_REQUESTABLE: ReadonlySet<number> = new Set([OptionCode.CLIENTID, OptionCode.SERVERID, OptionCode.IA_NA, OptionCode.IAADDR, OptionCode.ORO, OptionCode.PREFERENCE, OptionCode.ELAPSED_TIME, OptionCode.STATUS_CODE, OptionCode.RAPID_COMMIT, OptionCode.IA_PD, OptionCode.IAPREFIX]);

/** The ORO every exchange carries. */
export const DEFAULT_REQUEST_OPTIONS: readonly number[] = [OptionCode.DNS_SERVERS, OptionCode.DOMAIN_LIST];

/** Checks a configuration; the error names the value and why it is refused. */
export function resolveConfig(config: Dhcp6ClientConfig): { ok: true; value: ResolvedConfig } | { ok: false; error: Dhcp6ConfigError } {
  const bad = (detail: string) => ({ ok: false as const, error: { code: Dhcp6ErrorCode.BAD_CONFIG, detail } });
  // Configurations come from files and keys as well as from code: every field is checked before use.
  if (typeof config !== "object" || config === null) return bad("the DHCPv6 client configuration is not an object.");
  if (config.mode !== "stateful" && config.mode !== "stateless") return bad(`DHCPv6 mode ${JSON.stringify(String(config.mode))} is neither "stateful" nor "stateless".`);
  if (!isUint(config.iaid, 32)) return bad(`IAID ${config.iaid} is not an integer from 0 to 4294967295.`);
  if (typeof config.random !== "function") return bad("the DHCPv6 client needs a random source.");
  const address = config.address ?? true;
  let prefixLength: number | undefined;
  if (config.prefix !== undefined && typeof config.prefix !== "boolean" && (typeof config.prefix !== "object" || config.prefix === null)) return bad("the IA_PD setting is neither true, false nor { length }.");
  if (config.prefix === true) prefixLength = 0;
  else if (typeof config.prefix === "object") {
    if (!Number.isInteger(config.prefix.length) || config.prefix.length < 1 || config.prefix.length > 128) return bad(`delegated prefix length hint ${config.prefix.length} is not 1–128.`);
    prefixLength = config.prefix.length;
  }
  if (config.mode === "stateful" && !address && prefixLength === undefined) return bad("stateful DHCPv6 asks for nothing: enable an address (IA_NA), a prefix (IA_PD) or both.");
  let duid: Duid | null;
  const d = config.duid as DuidConfig | undefined;
  if (typeof d !== "object" || d === null) return bad("the DHCPv6 client configuration has no DUID.");
  if (d.kind === "ll" || d.kind === "llt") {
    if (!(d.mac instanceof Uint8Array)) return bad("the MAC address for the DUID is not bytes.");
    if (d.mac.length < 1 || d.mac.length > 20) return bad(`a link-layer address of ${d.mac.length} bytes cannot make a DUID (1–20 bytes).`);
    if (d.kind === "llt" && !isUint(d.time, 32)) return bad(`DUID-LLT time ${d.time} is not a 32-bit count of seconds since 2000.`);
    duid = d.kind === "ll" ? duidFromMac(d.mac) : duidLltFromMac(d.mac, d.time);
  } else if (d.kind === "uuid") {
    duid = duidFromUuid(d.uuid);
    if (duid === null) return bad("the UUID for DUID-UUID is not 16 bytes or 32 hex digits.");
  } else if (d.kind === "duid") {
    if (typeof d.duid !== "object" || d.duid === null) return bad("the kept DUID is not a DUID.");
    duid = d.duid;
  } else return bad("the DUID kind is not ll, llt, uuid or duid.");
  const bytes = encodeDuid(duid);
  if (!bytes.ok) return bad(`the client DUID cannot be used: ${bytes.error.detail}.`);
  const extra = config.requestOptions ?? [];
  if (!Array.isArray(extra)) return bad("the extra requested options are not a list of option codes.");
  for (const code of extra) {
    if (!isUint(code, 16) || NOT_REQUESTABLE.has(code)) return bad(`option ${code} cannot be requested in an ORO.`);
  }
  const requestOptions = [...new Set([...DEFAULT_REQUEST_OPTIONS, ...extra])];
  return {
    ok: true,
    value: { mode: config.mode, address, prefixLength, iaid: config.iaid, duid, duidBytes: bytes.value, rapidCommit: config.rapidCommit ?? true, requestOptions, random: config.random },
  };
}
