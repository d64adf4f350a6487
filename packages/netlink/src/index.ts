/**
 * @paddock/netlink: an rtnetlink codec and client. The codec (message, attributes, link,
 * address, route) is total and pure; the client matches replies to requests over a
 * NETLINK_ROUTE socket and reports typed errors and change events. See docs/netlink.md.
 */

export * from "./constants.ts";
export * from "./result.ts";
export * from "./bytes.ts";
export * from "./attributes.ts";
export * from "./link.ts";
export * from "./address.ts";
export * from "./route.ts";
export * from "./message.ts";
export * from "./errors.ts";
export * from "./requests.ts";
export * from "./views.ts";
export * from "./client.ts";
export * from "./open.ts";
