/**
 * The DHCPv6 service's options (`paddock dhcp6` flags, `paddock run dhcp6 --set NAME=VALUE`, the
 * configuration file), and the parsers of the two that are lists or choices with a value.
 */
import { DUID_KINDS, MAX_DOWNSTREAM, MODES } from "./schema.ts";
import { hexBytes } from "./wire.ts";

type OptionValue = string | boolean | number;

/** A downstream interface and the sub-prefix id its /64 takes from the delegated prefix. */
export interface DownstreamAssignment {
  readonly iface: string;
  readonly subnetId: number;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * `prefix-delegation`: "IFACE=ID[,IFACE=ID…]" (commas or spaces between), each downstream
 * interface with the sub-prefix id (decimal, or hex with 0x) of its /64 inside the delegated prefix.
 */
export function parsePrefixDelegation(text: string): { ok: true; value: DownstreamAssignment[] } | { ok: false; reason: string } {
  const out: DownstreamAssignment[] = [];
  for (const item of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([^=]+)=(0x[0-9a-fA-F]{1,16}|[0-9]{1,19})$/.exec(item);
    if (!m || !IFNAME.test(m[1]!)) return { ok: false, reason: `${JSON.stringify(item.slice(0, 40))} is not IFACE=SUBNET-ID (like eth1=1)` };
    const id = Number(m[2]);
    if (!Number.isSafeInteger(id)) return { ok: false, reason: `the sub-prefix id of ${m[1]} is too large` };
    if (out.some((a) => a.iface === m[1])) return { ok: false, reason: `${m[1]} is named twice` };
    if (out.some((a) => a.subnetId === id)) return { ok: false, reason: `sub-prefix id ${id} is given to two interfaces` };
    out.push({ iface: m[1]!, subnetId: id });
  }
  if (out.length > MAX_DOWNSTREAM) return { ok: false, reason: `at most ${MAX_DOWNSTREAM} downstream interfaces` };
  return { ok: true, value: out };
}

/** `ia-pd`: "off", or a prefix length hint 0–128 (0: ask without a hint). */
export function iaPdProblem(v: OptionValue): string | undefined {
  const s = String(v);
  return s === "off" || (/^[0-9]{1,3}$/.test(s) && Number(s) <= 128) ? undefined : 'must be "off" or a prefix length 0–128 (0: no hint)';
}

/** `duid`: ll, llt, uuid, or the DUID itself in hex (3–130 bytes). */
export function duidProblem(v: OptionValue): string | undefined {
  const s = String(v);
  if ((DUID_KINDS as readonly string[]).includes(s)) return undefined;
  const bytes = hexBytes(s);
  return bytes && bytes.length >= 3 && bytes.length <= 130 ? undefined : "must be ll, llt, uuid or a DUID in hex (3–130 bytes, like 00:03:00:01:02:00:00:00:00:01)";
}

export const dhcp6Options = {
  mode: { kind: "string", default: "auto", validate: (v: OptionValue) => ((MODES as readonly string[]).includes(String(v)) ? undefined : "must be auto, stateful or stateless"), description: "auto (follow the router advertisement's M and O flags, read from the ra service in the same priv; stateful when it does not run), stateful (SOLICIT for addresses and prefixes) or stateless (INFORMATION-REQUEST: DNS only)" },
  "ia-na": { kind: "boolean", default: true, description: "stateful: ask for an address (IA_NA), applied as a /128 with the server's lifetimes" },
  "ia-pd": { kind: "string", default: "off", validate: iaPdProblem, description: "stateful: ask for a delegated prefix (IA_PD) with this prefix length hint (0: no hint), or off" },
  duid: { kind: "string", default: "ll", validate: duidProblem, description: "the client's DUID: ll (from the MAC), llt (from the MAC and the time it is first made, kept in the state directory), uuid (from /etc/machine-id) or a DUID in hex" },
  "rapid-commit": { kind: "boolean", default: true, description: "offer rapid commit (SOLICIT answered by a REPLY at once, when the server agrees)" },
  "prefix-delegation": { kind: "string", default: "", validate: (v: OptionValue) => { const r = parsePrefixDelegation(String(v)); return r.ok ? undefined : r.reason; }, description: "downstream interfaces that each get a /64 of the delegated prefix: IFACE=SUBNET-ID[,IFACE=SUBNET-ID…] (needs ia-pd)" },
  "resolv-conf": { kind: "string", default: "/etc/resolv.conf", description: "the resolv.conf the DNS servers and domains go to, composed with the other services' and links'; empty: leave resolv.conf alone" },
  "release-on-stop": { kind: "boolean", default: true, description: "send RELEASE when stopped, and remove the addresses, prefixes and DNS servers it applied" },
} as const;
