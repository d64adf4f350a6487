/**
 * Opens a client on a real NETLINK_ROUTE socket from @paddock/native (the only I/O this
 * package does). The namespace is a parameter so tests act on throwaway namespaces
 * (STYLE.md 7); events join the rtnetlink groups the client types.
 */

import { openNetlinkRoute } from "@paddock/native";
import { RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_LINK } from "./constants.ts";
import { RtnetlinkClient } from "./client.ts";
import type { RtnetlinkClientOptions } from "./client.ts";
import { NetlinkError } from "./errors.ts";

/** The groups `events: true` joins: links (with carrier), IPv4 addresses, IPv4 routes. */
export const EVENT_GROUPS: readonly number[] = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE];

/** Options of openRtnetlink. */
export interface OpenRtnetlinkOptions extends RtnetlinkClientOptions {
  /** Act in this network namespace ("/run/netns/NAME"); default: the caller's. */
  readonly netnsPath?: string;
  /** Join multicast groups for onEvent(): true for EVENT_GROUPS, or a list of RTNLGRP_* numbers. */
  readonly events?: boolean | readonly number[];
}

/**
 * Opens an rtnetlink client (NETLINK_EXT_ACK on, so errors carry the kernel's text). Throws a
 * NetlinkError PADDOCK_E_NETLINK_SOCKET with the errno if the socket cannot be opened (EPERM
 * without CAP_NET_ADMIN for a foreign namespace, ENOENT for a missing namespace path).
 */
export function openRtnetlink(options: OpenRtnetlinkOptions = {}): RtnetlinkClient {
  const groups = options.events === true ? [...EVENT_GROUPS] : Array.isArray(options.events) ? [...options.events] : [];
  const where = options.netnsPath === undefined ? "" : ` in ${options.netnsPath}`;
  try {
    const socket = openNetlinkRoute({
      groups,
      extendedAck: true,
      ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
    });
    return new RtnetlinkClient(socket, options);
  } catch (e) {
    const err = e as { errno?: unknown; errnoNumber?: unknown; message?: unknown };
    throw new NetlinkError(
      "PADDOCK_E_NETLINK_SOCKET",
      `open NETLINK_ROUTE${where}`,
      {
        ...(typeof err.errno === "string" ? { errno: err.errno } : {}),
        ...(typeof err.errnoNumber === "number" ? { errnoNumber: err.errnoNumber } : {}),
        cause: e,
      },
      `open NETLINK_ROUTE${where}: ${typeof err.message === "string" ? err.message : String(e)}`,
    );
  }
}
