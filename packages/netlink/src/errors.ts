/**
 * The client's error: one class, a stable code, and everything needed to act on a failure without
 * re-running it — the errno (name and number), the kernel's extended-ack text and offset, the
 * request attribute that offset points at, and a description of the request
 * ("RTM_NEWADDR 10.0.0.5/24 dev veth0").
 */

import { getSystemErrorMap } from "node:util";
import type { NetlinkDecodeError } from "./result.ts";

/** Stable codes of client failures. */
export type NetlinkErrorCode =
  /** The kernel refused the request: see `errno`, `errnoNumber`, `extackMessage`. */
  | "PADDOCK_E_NETLINK_KERNEL"
  /** No reply within the timeout (a reply lost to socket overrun, or a hung kernel path). */
  | "PADDOCK_E_NETLINK_TIMEOUT"
  /** The client was closed with the request outstanding. */
  | "PADDOCK_E_NETLINK_CLOSED"
  /** A caller's argument cannot be encoded (bad CIDR, out-of-range number, bad name). */
  | "PADDOCK_E_NETLINK_INVALID_ARGUMENT"
  /** The socket failed (send error, receive error): see `errno` and `cause`. */
  | "PADDOCK_E_NETLINK_SOCKET"
  /** A reply to this request did not decode: see `cause` (a NetlinkDecodeError). */
  | "PADDOCK_E_NETLINK_DECODE"
  /** A dump kept changing under us (NLM_F_DUMP_INTR) on every retry. */
  | "PADDOCK_E_NETLINK_DUMP_INTERRUPTED"
  /** A dump returned more entries than MAX_DUMP_MESSAGES. */
  | "PADDOCK_E_NETLINK_DUMP_TOO_LARGE"
  /** A lookup succeeded at the kernel but matched nothing we can use. */
  | "PADDOCK_E_NETLINK_NOT_FOUND";

/** Fields of a NetlinkError besides its code and request. */
export interface NetlinkErrorDetails {
  /** errno name, e.g. "EEXIST" (kernel and socket errors). */
  readonly errno?: string;
  /** errno number, positive, e.g. 17. */
  readonly errnoNumber?: number;
  /** NLMSGERR_ATTR_MSG: the kernel's explanation, when it sent one. */
  readonly extackMessage?: string;
  /** NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request. */
  readonly extackOffset?: number;
  /** The name of the request attribute at `extackOffset` (e.g. "IFLA_MTU"), when known. */
  readonly attribute?: string;
  /** What went wrong underneath (a NetlinkDecodeError, a native socket error). */
  readonly cause?: unknown;
}

/** A failed rtnetlink request. */
export class NetlinkError extends Error {
  /** Stable code. */
  readonly code: NetlinkErrorCode;
  /** The request that failed, in `ip`-like words: "RTM_NEWADDR 10.0.0.5/24 dev veth0". */
  readonly request: string;
  /** errno name, e.g. "EEXIST". */
  readonly errno: string | undefined;
  /** errno number, positive. */
  readonly errnoNumber: number | undefined;
  /** The kernel's extended-ack message. */
  readonly extackMessage: string | undefined;
  /** The kernel's extended-ack offset into the request. */
  readonly extackOffset: number | undefined;
  /** The request attribute named by `extackOffset`. */
  readonly attribute: string | undefined;

  constructor(code: NetlinkErrorCode, request: string, details: NetlinkErrorDetails = {}, message?: string) {
    super(message ?? describe(code, request, details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NetlinkError";
    this.code = code;
    this.request = request;
    this.errno = details.errno;
    this.errnoNumber = details.errnoNumber;
    this.extackMessage = details.extackMessage;
    this.extackOffset = details.extackOffset;
    this.attribute = details.attribute;
  }
}

function describe(code: NetlinkErrorCode, request: string, d: NetlinkErrorDetails): string {
  const parts = [`${request}: ${code}`];
  if (d.errno !== undefined) parts.push(`${d.errno} (${errnoText(d.errnoNumber ?? 0)})`);
  if (d.extackMessage !== undefined) parts.push(`kernel says "${d.extackMessage}"`);
  if (d.attribute !== undefined) parts.push(`at ${d.attribute}`);
  else if (d.extackOffset !== undefined) parts.push(`at offset ${d.extackOffset}`);
  const cause = d.cause as Partial<NetlinkDecodeError> | Error | undefined;
  if (cause !== undefined && cause !== null && typeof cause === "object" && "message" in cause && d.errno === undefined) {
    parts.push(String(cause.message));
  }
  return parts.join(": ");
}

/** errno number → [name, text], from libuv's table (keys are negative errnos). */
const ERRNO_MAP = getSystemErrorMap();

/** The errno name of a positive errno number ("EEXIST"), or "E<n>" when unknown. */
export function errnoName(n: number): string {
  return ERRNO_MAP.get(-n)?.[0] ?? `E${n}`;
}

/** A short text for a positive errno number ("file already exists"). */
export function errnoText(n: number): string {
  return ERRNO_MAP.get(-n)?.[1] ?? `errno ${n}`;
}
