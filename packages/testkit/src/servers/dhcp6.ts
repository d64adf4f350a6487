/**
 * Real DHCPv6 servers — dnsmasq, Kea, ISC dhcpd -6 — configured from one description of what they
 * hand out ({@link Dhcp6Offer}), so a test can compare what a client applied with what the server
 * was told to send. The server's interface must hold an address in `offer.subnet` (dnsmasq and
 * dhcpd pick the range by it). Each can also take its own raw configuration.
 */
import { writeFileSync } from "node:fs";
import type { Lab, NsRef } from "../lab.ts";
import { waitForUdpPort } from "../net.ts";
import type { LabProcess } from "../process.ts";
import { startServer, type CommonServerOptions, type ServerCommand } from "./server.ts";

/** The DHCPv6 server port (RFC 8415 §7.2). */
const DHCP6_SERVER_PORT = 547;

/** What a DHCPv6 server is told to hand out. */
export interface Dhcp6Offer {
  /** The link's /64, "2001:db8:6::/64": the server's interface holds `${prefix}1`. */
  subnet: string;
  /** The IA_NA range, inside `subnet`. */
  rangeStart: string;
  rangeEnd: string;
  dns: string[];
  domains: string[];
  /** Lifetimes of addresses and prefixes, seconds. */
  preferredSeconds: number;
  validSeconds: number;
  /** T1/T2, seconds (Kea and dhcpd; dnsmasq derives its own). */
  renewSeconds?: number;
  rebindSeconds?: number;
  /** Prefix delegation (Kea and dhcpd): a pool and the length each client gets. */
  pd?: { pool: string; poolLength: number; delegatedLength: number };
}

/** The default offer on 2001:db8:6::/64 (the documentation range). */
export function defaultOffer6(overrides: Partial<Dhcp6Offer> = {}): Dhcp6Offer {
  return {
    subnet: "2001:db8:6::/64",
    rangeStart: "2001:db8:6::100",
    rangeEnd: "2001:db8:6::1ff",
    dns: ["2001:db8:6::53", "2001:db8:6::54"],
    domains: ["paddock.test", "example.test"],
    preferredSeconds: 300,
    validSeconds: 600,
    pd: { pool: "2001:db8:100::", poolLength: 48, delegatedLength: 56 },
    ...overrides,
  };
}

/** Options every DHCPv6 server starter takes. */
export interface Dhcp6ServerOptions extends CommonServerOptions {
  /** The server's interface in its namespace; it must hold an address in `offer.subnet`. */
  iface: string;
  /** What to hand out (default {@link defaultOffer6}). */
  offer?: Dhcp6Offer;
}

const ready547 = (p: LabProcess, timeoutMs: number) => waitForUdpPort(p, DHCP6_SERVER_PORT, timeoutMs);

/** Options of {@link startDnsmasq6}. */
export interface Dnsmasq6Options extends Dhcp6ServerOptions {
  /** stateful (IA_NA from the range; the default) or stateless (INFORMATION-REQUEST only, `ra-stateless`). */
  mode?: "stateful" | "stateless";
}

/**
 * The dnsmasq command for DHCPv6: no DNS, every exchange logged to its output. Stateless mode
 * also sends router advertisements with the O flag (dnsmasq's `ra-stateless`). dnsmasq gives
 * leases of at least 2 minutes and a preferred lifetime equal to the valid one.
 */
export function dnsmasq6Command(lab: Lab, opts: Dnsmasq6Options): ServerCommand {
  const o = opts.offer ?? defaultOffer6();
  const leaseFile = lab.uniqueFile("dnsmasq6", ".leases");
  writeFileSync(leaseFile, "");
  const prefixLength = o.subnet.split("/")[1]!;
  const range = opts.mode === "stateless" ? `--dhcp-range=${o.subnet.split("/")[0]},ra-stateless,${prefixLength}` : `--dhcp-range=${o.rangeStart},${o.rangeEnd},${prefixLength},${o.validSeconds}`;
  return {
    name: "dnsmasq",
    argv: [
      "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0", "--conf-file=/dev/null",
      `--interface=${opts.iface}`, "--bind-interfaces", range, `--dhcp-leasefile=${leaseFile}`,
      ...(opts.mode === "stateless" ? ["--enable-ra"] : []),
      `--dhcp-option=option6:dns-server,${o.dns.map((d) => `[${d}]`).join(",")}`,
      `--dhcp-option=option6:domain-search,${o.domains.join(",")}`,
      "--log-facility=-", "--log-dhcp", ...(opts.extraArgs ?? []),
    ],
    ready: ready547,
  };
}

/** Starts dnsmasq as a DHCPv6 server on `opts.iface` in `ns`; resolves once it has bound port 547. */
export function startDnsmasq6(lab: Lab, ns: NsRef, opts: Dnsmasq6Options): Promise<LabProcess> {
  return startServer(lab, ns, dnsmasq6Command(lab, opts), opts.readyTimeoutMs);
}

/** Options of {@link startKea6}. */
export interface Kea6Options extends Dhcp6ServerOptions {
  /** Answer a SOLICIT with rapid commit by a REPLY (default true). */
  rapidCommit?: boolean;
  /** The whole `Dhcp6` object to use instead of the one built from `offer`. */
  config?: Record<string, unknown>;
}

/**
 * The kea-dhcp6 command for `opts`: a memfile lease database that is not persisted; logging to
 * its output at debug level 55, so each packet received (SOLICIT, REQUEST, RENEW, RELEASE…) is a
 * line a test can wait for.
 */
export function kea6Command(lab: Lab, opts: Kea6Options): ServerCommand {
  const o = opts.offer ?? defaultOffer6();
  const conf = lab.uniqueFile("kea-dhcp6", ".json");
  const dhcp6 = opts.config ?? {
    "interfaces-config": { interfaces: [opts.iface] },
    "lease-database": { type: "memfile", persist: false },
    // Its own DUID, not written to /var/lib/kea (a lab leaves nothing behind).
    "server-id": { type: "EN", "enterprise-id": 2495, identifier: "7061646465636b", persist: false },
    "preferred-lifetime": o.preferredSeconds,
    "valid-lifetime": o.validSeconds,
    ...(o.renewSeconds !== undefined ? { "renew-timer": o.renewSeconds } : {}),
    ...(o.rebindSeconds !== undefined ? { "rebind-timer": o.rebindSeconds } : {}),
    subnet6: [{
      id: 1,
      subnet: o.subnet,
      interface: opts.iface,
      "rapid-commit": opts.rapidCommit ?? true,
      pools: [{ pool: `${o.rangeStart} - ${o.rangeEnd}` }],
      ...(o.pd ? { "pd-pools": [{ prefix: o.pd.pool, "prefix-len": o.pd.poolLength, "delegated-len": o.pd.delegatedLength }] } : {}),
      "option-data": [
        { name: "dns-servers", data: o.dns.join(", ") },
        { name: "domain-search", data: o.domains.join(", ") },
      ],
    }],
    loggers: [{ name: "kea-dhcp6", output_options: [{ output: "stdout" }], severity: "DEBUG", debuglevel: 55 }],
  };
  writeFileSync(conf, JSON.stringify({ Dhcp6: dhcp6 }, null, 2));
  return {
    name: "kea-dhcp6",
    argv: ["kea-dhcp6", "-c", conf, ...(opts.extraArgs ?? [])],
    env: { ...process.env, KEA_PIDFILE_DIR: lab.dir, KEA_LOCKFILE_DIR: lab.dir },
    configFile: conf,
    // DHCP6_STARTED comes even when no socket could be opened (a link-local address still in
    // duplicate address detection cannot be bound): the bound port is the readiness.
    ready: async (p, timeoutMs) => {
      await p.waitForLog(/DHCP6_STARTED/, { timeoutMs });
      await ready547(p, timeoutMs);
    },
  };
}

/**
 * Starts Kea's DHCPv6 server on `opts.iface` in `ns`; resolves once it logged DHCP6_STARTED and
 * bound port 547. Kea binds the interface's link-local address, which must have finished duplicate
 * address detection (turn it off in a lab's server namespace: net.ipv6.conf.default.accept_dad=0).
 */
export function startKea6(lab: Lab, ns: NsRef, opts: Kea6Options): Promise<LabProcess> {
  return startServer(lab, ns, kea6Command(lab, opts), opts.readyTimeoutMs);
}

/** Options of {@link startIscDhcpd6}. */
export interface IscDhcpd6Options extends Dhcp6ServerOptions {
  /** The whole dhcpd6.conf to use instead of the one built from `offer`. */
  config?: string;
}

/** The ISC `dhcpd -6` command for `opts`: foreground, logging to its output. */
export function iscDhcpd6Command(lab: Lab, opts: IscDhcpd6Options): ServerCommand {
  const o = opts.offer ?? defaultOffer6();
  const conf = lab.uniqueFile("dhcpd6", ".conf");
  const leases = lab.uniqueFile("dhcpd6", ".leases");
  writeFileSync(leases, "");
  writeFileSync(conf, opts.config ?? [
    `default-lease-time ${o.validSeconds};`,
    `preferred-lifetime ${o.preferredSeconds};`,
    ...(o.renewSeconds !== undefined ? [`option dhcp-renewal-time ${o.renewSeconds};`] : []),
    ...(o.rebindSeconds !== undefined ? [`option dhcp-rebinding-time ${o.rebindSeconds};`] : []),
    `option dhcp6.name-servers ${o.dns.join(", ")};`,
    `option dhcp6.domain-search ${o.domains.map((d) => `"${d}"`).join(", ")};`,
    `subnet6 ${o.subnet} {`,
    `  range6 ${o.rangeStart} ${o.rangeEnd};`,
    ...(o.pd ? [`  prefix6 ${o.pd.pool} ${nextPool(o.pd)} /${o.pd.delegatedLength};`] : []),
    "}",
    "",
  ].join("\n"));
  return {
    name: "dhcpd6",
    argv: ["dhcpd", "-f", "-d", "-6", "-cf", conf, "-lf", leases, "-pf", lab.uniqueFile("dhcpd6", ".pid"), ...(opts.extraArgs ?? []), opts.iface],
    configFile: conf,
    ready: ready547,
  };
}

/** The last delegated prefix of a pool (dhcpd's prefix6 takes the first and the last). */
function nextPool(pd: NonNullable<Dhcp6Offer["pd"]>): string {
  // The pool's first /delegatedLength and the one 15 further on: 16 prefixes are plenty for a lab.
  const groups = pd.pool.replace(/::$/, "").split(":").map((g) => parseInt(g, 16));
  while (groups.length < 4) groups.push(0);
  const groupIndex = Math.floor((pd.delegatedLength - 1) / 16);
  const step = 1 << (16 * (groupIndex + 1) - pd.delegatedLength);
  groups[groupIndex] = (groups[groupIndex] ?? 0) + 15 * step;
  return `${groups.map((g) => g.toString(16)).join(":")}::`;
}

/** Starts ISC `dhcpd -6` on `opts.iface` in `ns`; resolves once it has bound port 547. */
export function startIscDhcpd6(lab: Lab, ns: NsRef, opts: IscDhcpd6Options): Promise<LabProcess> {
  return startServer(lab, ns, iscDhcpd6Command(lab, opts), opts.readyTimeoutMs);
}
