/**
 * The DHCPv4 client's schema — the one contract module between its calf and its handlers: what
 * the calf may publish (a lease, as canonical text keys committed together, which the handlers
 * turn into addresses, routes, MTU and resolv.conf), what the priv writes before the calf starts,
 * and what the calf may keep for itself (/state/…, for INIT-REBOOT after a restart).
 *
 * Each value is parsed once, by the store, when it is written or loaded; the handlers read the
 * parsed values through the typed keys below and never see the text.
 */
import {
  domainName,
  hostname,
  intRange,
  ipv4Cidr,
  ipv4Route,
  ipv4Unicast,
  mac,
  oneOf,
  searchList,
  stateText,
  defineSchema,
  type Parsed,
} from "@paddock/kv";
import { MAX_VENDOR_CLASS_BYTES, requestOptionsText, vendorClassText } from "./client-options.ts";

/** resolv.conf honours 3 nameservers (glibc MAXNS); DHCP servers rarely send more than a handful. */
export const MAX_NAMESERVERS = 8;
/** Option 121 fits at most 255/5 = 51 routes per instance; 64 leaves room for RFC 3396 concatenation without letting a calf flood the routing table. */
export const MAX_CLASSLESS_ROUTES = 64;
/** Option 42 lists NTP servers; chrony and systemd-timesyncd use a few. */
export const MAX_NTP_SERVERS = 8;
/** A calf's own state: the persisted lease and a few more keys. */
export const MAX_STATE_KEYS = 16;
/** One state value: a serialised lease is a few hundred bytes; 16 KiB leaves ample room. */
export const MAX_STATE_BYTES = 16 * 1024;

const INDEX = /^[0-9]{3}$/;

/** The client states `/client/state` may hold (the core's ClientStateName). */
export const DHCP_CLIENT_STATES = ["INIT", "SELECTING", "REQUESTING", "BOUND", "RENEWING", "REBINDING", "INIT-REBOOT", "REBOOTING", "RELEASED", "IPV6-ONLY", "STOPPED"] as const;

/** RFC 2132 §9.14: a client identifier is 2–255 bytes. */
const CLIENT_ID = /^([0-9a-f]{2}){2,255}$/;

/** A client identifier (option 61 data) as lower-case hex, parsed to its bytes; "none": the client sends none (null). */
export function clientIdHex(v: string): Parsed<Uint8Array | null> {
  if (v === "none") return { ok: true, value: null };
  if (!CLIENT_ID.test(v)) return { ok: false, reason: `${JSON.stringify(v.slice(0, 40))} is not "none" or 2–255 bytes of lower-case hex` };
  return { ok: true, value: Uint8Array.from(v.match(/../g)!.map((h) => parseInt(h, 16))) };
}

/**
 * The DHCPv4 client schema, each key declared once: its pattern, writer, parser and limits, under
 * the name handlers read it by (`dhcp4Schema.keys.ip` is a `SchemaKey<Ipv4Cidr>`, derived from
 * `/ip`'s parser). Calf-written lease keys are write-only for the calf.
 */
export const dhcp4Schema = defineSchema({
  name: "dhcp4",
  description: "DHCPv4 client: the lease as addresses, routes, MTU and resolver settings",
  maxTotalBytes: 256 * 1024,
  keys: {
    mac: { pattern: "/mac", description: "the interface's MAC address (priv writes it before the calf starts)", writer: "priv", calfReads: true, validate: mac, maxBytes: 17 },
    iface: { pattern: "/iface", description: "the interface's name (priv writes it before the calf starts)", writer: "priv", calfReads: true, validate: hostname, maxBytes: 15 },
    clientId: { pattern: "/config/client-id", description: "the client identifier (option 61) the priv fixed, hex, or \"none\"; the calf sends exactly it (or no option 61) and egress refuses any other", writer: "priv", calfReads: true, validate: clientIdHex, maxBytes: 510 },
    configHostname: { pattern: "/config/hostname", description: "the host name to send (option 12), when the operator set one", writer: "priv", calfReads: true, validate: hostname, maxBytes: 64 },
    configFqdn: { pattern: "/config/fqdn", description: "the fully qualified name to send (option 81), when the operator set one", writer: "priv", calfReads: true, validate: domainName, maxBytes: 253 },
    vendorClass: { pattern: "/config/vendor-class", description: "the vendor class identifier to send (option 60): printable ASCII", writer: "priv", calfReads: true, validate: vendorClassText, maxBytes: MAX_VENDOR_CLASS_BYTES },
    requestOptions: { pattern: "/config/request-options", description: "the options to request (option 55), codes separated by spaces; absent: the client's default list", writer: "priv", calfReads: true, validate: requestOptionsText, maxBytes: 1024 },
    keepLeaseOnReboot: { pattern: "/config/keep-lease-on-reboot", description: "\"true\": keep a valid lease when no server answers at reboot", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    releaseOnStop: { pattern: "/config/release-on-stop", description: "\"true\": send RELEASE when stopped", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    minLease: { pattern: "/config/min-lease", description: "leases shorter than this many seconds are stretched to it (60; lower only in tests)", writer: "priv", calfReads: true, validate: intRange(1, 60), maxBytes: 2 },
    ipv6OnlyPreferred: { pattern: "/config/ipv6-only-preferred", description: "\"true\": RFC 8925, ask for option 108 and go without IPv4 for the time a server's offer says", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    arpProbe: { pattern: "/config/arp-probe", description: "\"true\": probe an offered address with ARP before using it, announce and defend it (RFC 5227)", writer: "priv", calfReads: true, validate: oneOf("true", "false"), maxBytes: 5 },
    logLevel: { pattern: "/config/log-level", description: "the calf's log level: debug, info, warn or error", writer: "priv", calfReads: true, validate: oneOf("debug", "info", "warn", "error"), maxBytes: 5 },
    ip: { pattern: "/ip", description: "the leased address with its prefix length, e.g. 10.0.0.5/24", writer: "calf", calfReads: false, validate: ipv4Cidr, maxBytes: 18 },
    gateway: { pattern: "/gateway", description: "the default router", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    mtu: { pattern: "/mtu", description: "the interface MTU (RFC 791 minimum 68)", writer: "calf", calfReads: false, validate: intRange(68, 65535), maxBytes: 5 },
    domain: { pattern: "/domain", description: "the domain name (resolv.conf `domain`)", writer: "calf", calfReads: false, validate: domainName, maxBytes: 253 },
    search: { pattern: "/search", description: "the search list, names separated by spaces", writer: "calf", calfReads: false, validate: searchList, maxBytes: 256 },
    hostname: { pattern: "/hostname", description: "the host name the server assigned (applied only when enabled)", writer: "calf", calfReads: false, validate: hostname, maxBytes: 64 },
    nameservers: { pattern: "/nameserver/*", wildcard: INDEX, maxKeys: MAX_NAMESERVERS, description: "DNS servers in order, /nameserver/001 first", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    routes: { pattern: "/route/*", wildcard: INDEX, maxKeys: MAX_CLASSLESS_ROUTES, description: "classless static routes (RFC 3442), \"network router\"", writer: "calf", calfReads: false, validate: ipv4Route, maxBytes: 34 },
    ntp: { pattern: "/ntp/*", wildcard: INDEX, maxKeys: MAX_NTP_SERVERS, description: "NTP servers (option 42)", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    leaseExpires: { pattern: "/lease/expires", description: "when the lease ends, seconds since the Unix epoch (0: never)", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    leaseAcked: { pattern: "/lease/acked", description: "the address of the last ACK the priv delivered to the calf for this client: the only source address (besides 0.0.0.0) its frames may carry", writer: "priv", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    leaseServer: { pattern: "/lease/server", description: "the DHCP server that granted the lease", writer: "calf", calfReads: false, validate: ipv4Unicast, maxBytes: 15 },
    leaseObtained: { pattern: "/lease/obtained", description: "when the lease was obtained (its request sent), seconds since the Unix epoch", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    leaseRenew: { pattern: "/lease/renew", description: "when the client renews (T1), seconds since the Unix epoch (0: never)", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    leaseRebind: { pattern: "/lease/rebind", description: "when the client rebinds (T2), seconds since the Unix epoch (0: never)", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    clientState: { pattern: "/client/state", description: "the client's state (RFC 2131 figure 5: INIT, SELECTING, REQUESTING, BOUND, RENEWING, REBINDING, INIT-REBOOT, REBOOTING; RELEASED, IPV6-ONLY, STOPPED)", writer: "calf", calfReads: false, validate: oneOf(...DHCP_CLIENT_STATES), maxBytes: 11 },
    ipv6OnlyUntil: { pattern: "/client/ipv6-only-until", description: "while the client is IPV6-ONLY (RFC 8925): when it tries DHCPv4 again, seconds since the Unix epoch", writer: "calf", calfReads: false, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    controlRenew: { pattern: "/control/renew", description: "an operator's renew request (`paddock renew`): a counter; each change makes the calf renew now", writer: "priv", calfReads: true, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    controlRelease: { pattern: "/control/release", description: "an operator's release request (`paddock release`): a counter; each change makes the calf release the lease and stay idle", writer: "priv", calfReads: true, validate: intRange(0, 2 ** 53 - 1), maxBytes: 16 },
    state: { pattern: "/state/**", maxKeys: MAX_STATE_KEYS, description: "the calf's own persisted state (e.g. the lease for INIT-REBOOT)", writer: "calf", calfReads: true, validate: stateText, maxBytes: MAX_STATE_BYTES },
  },
});

/** The lease keys by name, typed by their parsers: `readKey(store.parsed, dhcp4Keys.ip)` is an `Ipv4Cidr | undefined`. */
export const dhcp4Keys = dhcp4Schema.keys;
