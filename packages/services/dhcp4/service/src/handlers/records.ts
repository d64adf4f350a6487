/**
 * The DHCP service's ownership records (see @paddock/runtime's OwnershipFile): what the lease and
 * hostname handlers applied, checked field by field when loaded.
 */
import { isFileState, OWNERSHIP_FORMAT, type OwnedAddress, type OwnedFile, type OwnedMtu } from "@paddock/runtime";

/** What the lease handler applied. */
export interface LeaseOwnership {
  readonly format: typeof OWNERSHIP_FORMAT;
  readonly addresses: readonly OwnedAddress[];
  readonly mtu: OwnedMtu | null;
  /** ifindexes on which routes with RTPROT_PADDOCK may be ours. */
  readonly routeLinks: readonly number[];
  readonly resolvConf: OwnedFile | null;
}

/** What the hostname handler applied. */
export interface HostnameOwnership {
  readonly format: typeof OWNERSHIP_FORMAT;
  /** The host name before ours, and the one we wrote; null when we hold none. */
  readonly hostname: { readonly path: string; readonly original: string; readonly applied: string } | null;
}

/** An empty lease record. */
export function emptyLeaseOwnership(): LeaseOwnership {
  return { format: OWNERSHIP_FORMAT, addresses: [], mtu: null, routeLinks: [], resolvConf: null };
}

/** An empty hostname record. */
export function emptyHostnameOwnership(): HostnameOwnership {
  return { format: OWNERSHIP_FORMAT, hostname: null };
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isIndex = (x: unknown): x is number => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 0x7fffffff;
const isStr = (x: unknown): x is string => typeof x === "string";
const isU32 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;

/** Checks a parsed lease record; null when anything is off. */
export function parseLeaseOwnership(x: unknown): LeaseOwnership | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT) return null;
  const { addresses, mtu, routeLinks, resolvConf } = x;
  if (!Array.isArray(addresses) || !addresses.every((a) => isObj(a) && isIndex(a.index) && isStr(a.cidr))) return null;
  if (mtu !== null && !(isObj(mtu) && isIndex(mtu.index) && isU32(mtu.original) && isU32(mtu.applied))) return null;
  if (!Array.isArray(routeLinks) || !routeLinks.every(isIndex)) return null;
  if (resolvConf !== null && !(isObj(resolvConf) && isStr(resolvConf.path) && isFileState(resolvConf.saved))) return null;
  return x as unknown as LeaseOwnership;
}

/** Checks a parsed hostname record; null when anything is off. */
export function parseHostnameOwnership(x: unknown): HostnameOwnership | null {
  if (!isObj(x) || x.format !== OWNERSHIP_FORMAT) return null;
  const h = x.hostname;
  if (h !== null && !(isObj(h) && isStr(h.path) && isStr(h.original) && isStr(h.applied))) return null;
  return x as unknown as HostnameOwnership;
}
