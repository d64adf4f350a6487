/**
 * Waiting for an interface's IPv6 link-local address to be usable: a UDP-over-IPv6 channel (the
 * DHCPv6 client's port 546) sends from it, and while Duplicate Address Detection runs
 * (RFC 4862 §5.4) the address is "tentative" and the kernel will not use it as a source.
 *
 * The kernel lists every IPv6 address of this network namespace in /proc/net/if_inet6, one per
 * line: address (32 hex digits), ifindex, prefix length, scope, flags (IFA_F_*), name — all hex
 * but the name. Reading it needs no netlink socket and no parsing of anything a peer sent.
 */
import { readFile } from "node:fs/promises";
import { canonicalIpv6 } from "./datapath/egress.ts";

/** IFA_F_DADFAILED: DAD found another node with the address; it will never become usable. */
const IFA_F_DADFAILED = 0x08;
/** IFA_F_TENTATIVE: DAD still runs. */
const IFA_F_TENTATIVE = 0x40;
/** IPV6_ADDR_LINKLOCAL in the scope column (the kernel's ipv6_addr_scope()). */
const SCOPE_LINK = 0x20;

/** How long a start waits by default: DAD takes about a second (one probe, RetransTimer 1 s), more when the link is slow to get carrier. */
export const LINK_LOCAL_TIMEOUT_MS = 15_000;
/** How often the list is read while waiting (it changes a few times a second at most). */
const POLL_MS = 100;

/** What the kernel says about one interface's link-local addresses. */
export type LinkLocalState =
  | { readonly kind: "ready"; readonly address: string }
  | { readonly kind: "tentative" }
  | { readonly kind: "dad-failed"; readonly address: string }
  | { readonly kind: "none" };

/** A link-local address that never became usable: a stable code and one sentence. */
export class LinkLocalError extends Error {
  override readonly name = "LinkLocalError";
  constructor(
    readonly code: "PADDOCK_E_HOST_LINK_LOCAL_TIMEOUT" | "PADDOCK_E_HOST_LINK_LOCAL_DAD_FAILED" | "PADDOCK_E_HOST_STOPPED",
    message: string,
  ) {
    super(message);
  }
}

/** "fe800000000000000000000000000001" → "fe80::1". */
function groups(hex: string): string {
  return canonicalIpv6((hex.match(/.{4}/g) ?? []).join(":")) ?? hex;
}

/** The state of `ifindex`'s link-local addresses from the text of /proc/net/if_inet6. Pure. */
export function linkLocalState(ifInet6: string, ifindex: number): LinkLocalState {
  let sawTentative = false;
  let failed: string | undefined;
  for (const line of ifInet6.split("\n")) {
    const [address, index, , scope, flags] = line.trim().split(/\s+/);
    if (!address || !/^[0-9a-f]{32}$/.test(address) || index === undefined || scope === undefined || flags === undefined) continue;
    if (parseInt(index, 16) !== ifindex || parseInt(scope, 16) !== SCOPE_LINK) continue;
    const f = parseInt(flags, 16);
    if (f & IFA_F_DADFAILED) failed = groups(address);
    else if (f & IFA_F_TENTATIVE) sawTentative = true;
    else return { kind: "ready", address: groups(address) };
  }
  if (sawTentative) return { kind: "tentative" };
  return failed ? { kind: "dad-failed", address: failed } : { kind: "none" };
}

/** Options of waitForLinkLocal. */
export interface WaitForLinkLocalOptions {
  readonly ifindex: number;
  /** For messages. */
  readonly ifname: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Reads the address list (default /proc/net/if_inet6 of this process's namespace; a test reads another's). */
  readonly read?: () => Promise<string>;
}

/**
 * Resolves with the address once `ifindex` has a link-local address that is not tentative;
 * rejects with a LinkLocalError when DAD failed, after the timeout, or when `signal` aborts.
 */
export async function waitForLinkLocal(opts: WaitForLinkLocalOptions): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? LINK_LOCAL_TIMEOUT_MS;
  const deadline = performance.now() + timeoutMs;
  let last: LinkLocalState = { kind: "none" };
  for (;;) {
    if (opts.signal?.aborted) throw new LinkLocalError("PADDOCK_E_HOST_STOPPED", `stopped while waiting for the IPv6 link-local address of ${opts.ifname}`);
    const text = await (opts.read ?? (() => readFile("/proc/net/if_inet6", "utf8")))().catch(() => "");
    last = linkLocalState(text, opts.ifindex);
    if (last.kind === "ready") return last.address;
    if (last.kind === "dad-failed") {
      throw new LinkLocalError("PADDOCK_E_HOST_LINK_LOCAL_DAD_FAILED", `the IPv6 link-local address ${last.address} of ${opts.ifname} failed duplicate address detection (another host on the link uses it), so nothing can be sent from it; give the interface another MAC address or link-local address`);
    }
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const why =
    last.kind === "tentative"
      ? "its duplicate address detection has not finished (is the link up, with carrier?)"
      : "it has none (is IPv6 disabled on it? see sysctl net.ipv6.conf." + opts.ifname + ".disable_ipv6 and addr_gen_mode)";
  throw new LinkLocalError("PADDOCK_E_HOST_LINK_LOCAL_TIMEOUT", `${opts.ifname} has no usable IPv6 link-local address after ${timeoutMs / 1000} s: ${why}`);
}
