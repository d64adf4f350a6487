/**
 * Real DHCPv4 servers — dnsmasq, Kea, ISC dhcpd, busybox udhcpd — configured from one
 * description of what they hand out ({@link ServerOffer}), so a test can compare what a client
 * applied with what the server was told to send. Each can also take its own raw configuration.
 */
import { existsSync, writeFileSync } from "node:fs";
import type { Lab, NsRef } from "../lab.ts";
import { waitForUdpPort } from "../net.ts";
import { startServer, type CommonServerOptions, type ServerCommand } from "./server.ts";
import type { LabProcess } from "../process.ts";

/** The DHCP server port (RFC 2131 §4.1). */
const DHCP_SERVER_PORT = 67;

/** What a DHCPv4 server is told to hand out on a /24 (or other prefix) `net`. */
export interface ServerOffer {
  /** First three octets of the network ("10.81.0"). */
  net: string;
  /** The server's own address, NET.1 by default. */
  server: string;
  prefixLen: number;
  rangeStart: string;
  rangeEnd: string;
  router: string;
  dns: string[];
  domain: string;
  search: string[];
  mtu: number;
  /** Option 121 routes besides the default (which is always 0.0.0.0/0 via the router). */
  classless: Array<{ dst: string; via: string }>;
  /** Lease time the server grants, seconds. */
  leaseSeconds: number;
}

/** The default offer on a /24 `net`: a range, a router, two name servers, a search list, MTU and a classless route. */
export function defaultOffer(net: string, overrides: Partial<ServerOffer> = {}): ServerOffer {
  return {
    net,
    server: `${net}.1`,
    prefixLen: 24,
    rangeStart: `${net}.100`,
    rangeEnd: `${net}.200`,
    router: `${net}.1`,
    dns: [`${net}.1`, `${net}.53`],
    domain: "paddock.test",
    search: ["paddock.test", "example.test"],
    mtu: 1420,
    classless: [{ dst: "10.99.0.0/16", via: `${net}.1` }],
    leaseSeconds: 600,
    ...overrides,
  };
}

/** Option 121 (RFC 3442 §2) as bytes: width, significant octets of the destination, router. */
export function classlessBytes(routes: Array<{ dst: string; via: string }>): number[] {
  const out: number[] = [];
  for (const r of routes) {
    const [dst, lenText] = r.dst.split("/") as [string, string];
    const len = Number(lenText);
    out.push(len, ...dst.split(".").map(Number).slice(0, Math.ceil(len / 8)), ...r.via.split(".").map(Number));
  }
  return out;
}

/** "255.255.255.0" for 24. */
export function prefixToMask(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join(".");
}

/** The classless routes a server sends (RFC 3442: with option 121 the router option is ignored, so the default goes in too). */
function allClassless(o: ServerOffer): Array<{ dst: string; via: string }> {
  return [...o.classless, { dst: "0.0.0.0/0", via: o.router }];
}

/** Options every DHCPv4 server starter takes. */
export interface Dhcp4ServerOptions extends CommonServerOptions {
  /** The server's interface in its namespace; it must hold an address in `offer.net`. */
  iface: string;
  /** What to hand out (default {@link defaultOffer} of 10.81.0). */
  offer?: ServerOffer;
}

const ready67 = (p: LabProcess, timeoutMs: number) => waitForUdpPort(p, DHCP_SERVER_PORT, timeoutMs);

/** Options of {@link startDnsmasq}. */
export interface DnsmasqOptions extends Dhcp4ServerOptions {
  /** Lease file (default a new one in the lab's directory; an existing one is reused as it is). */
  leaseFile?: string;
}

/** The dnsmasq command for `opts`: DHCP only (no DNS), no ping check, every exchange logged to its output. */
export function dnsmasqCommand(lab: Lab, opts: DnsmasqOptions): ServerCommand {
  const o = opts.offer ?? defaultOffer("10.81.0");
  const leaseFile = opts.leaseFile ?? lab.uniqueFile("dnsmasq", ".leases");
  if (!existsSync(leaseFile)) writeFileSync(leaseFile, "");
  return {
    name: "dnsmasq",
    argv: [
      "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0",
      // The default ping check adds ~3 s before every OFFER (DESIGN.md).
      "--no-ping", "--conf-file=/dev/null",
      `--interface=${opts.iface}`, "--bind-interfaces", `--dhcp-range=${o.rangeStart},${o.rangeEnd},${prefixToMask(o.prefixLen)},${o.leaseSeconds}`,
      `--dhcp-leasefile=${leaseFile}`, `--dhcp-option=option:router,${o.router}`, `--dhcp-option=option:dns-server,${o.dns.join(",")}`,
      `--dhcp-option=option:domain-name,${o.domain}`, `--dhcp-option=option:domain-search,${o.search.join(",")}`,
      `--dhcp-option=option:mtu,${o.mtu}`,
      `--dhcp-option=option:classless-static-route,${allClassless(o).map((r) => `${r.dst},${r.via}`).join(",")}`,
      "--log-facility=-", "--log-dhcp", ...(opts.extraArgs ?? []),
    ],
    ready: ready67,
  };
}

/** Starts dnsmasq as the DHCP server on `opts.iface` in `ns`; resolves once it has bound port 67. */
export function startDnsmasq(lab: Lab, ns: NsRef, opts: DnsmasqOptions): Promise<LabProcess> {
  return startServer(lab, ns, dnsmasqCommand(lab, opts), opts.readyTimeoutMs);
}

/** Options of {@link startKea4}. */
export interface Kea4Options extends Dhcp4ServerOptions {
  /** T1/T2 in seconds (Kea accepts leases of a few seconds); default its own (½ and ⅞ of the lease). */
  timers?: { renew: number; rebind: number };
  /** NAK requests for addresses it does not serve (default false). */
  authoritative?: boolean;
  /** The whole `Dhcp4` object to use instead of the one built from `offer`. */
  config?: Record<string, unknown>;
}

/** The kea-dhcp4 command for `opts`: a memfile lease database that is not persisted, logging to its output. */
export function kea4Command(lab: Lab, opts: Kea4Options): ServerCommand {
  const o = opts.offer ?? defaultOffer("10.81.0");
  const conf = lab.uniqueFile("kea-dhcp4", ".json");
  const hex = classlessBytes(allClassless(o)).map((b) => b.toString(16).padStart(2, "0")).join("");
  const dhcp4 = opts.config ?? {
    "interfaces-config": { interfaces: [opts.iface], "dhcp-socket-type": "raw" },
    "lease-database": { type: "memfile", persist: false },
    authoritative: opts.authoritative ?? false,
    "valid-lifetime": o.leaseSeconds,
    ...(opts.timers ? { "renew-timer": opts.timers.renew, "rebind-timer": opts.timers.rebind } : {}),
    subnet4: [{
      id: 1,
      subnet: `${o.net}.0/${o.prefixLen}`,
      pools: [{ pool: `${o.rangeStart} - ${o.rangeEnd}` }],
      "option-data": [
        { name: "routers", data: o.router },
        { name: "domain-name-servers", data: o.dns.join(", ") },
        { name: "domain-name", data: o.domain },
        { name: "domain-search", data: o.search.join(", ") },
        { name: "interface-mtu", data: String(o.mtu) },
        { code: 121, "csv-format": false, data: hex },
      ],
    }],
    loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "INFO" }],
  };
  writeFileSync(conf, JSON.stringify({ Dhcp4: dhcp4 }, null, 2));
  return {
    name: "kea-dhcp4",
    argv: ["kea-dhcp4", "-c", conf, ...(opts.extraArgs ?? [])],
    // Kea puts its pid and lock files in system directories unless told otherwise.
    env: { ...process.env, KEA_PIDFILE_DIR: lab.dir, KEA_LOCKFILE_DIR: lab.dir },
    configFile: conf,
    // Kea logs DHCP4_STARTED after it has opened its sockets; with raw sockets it binds 67 too.
    ready: (p, timeoutMs) => p.waitForLog(/DHCP4_STARTED/, { timeoutMs }),
  };
}

/** Starts Kea's DHCPv4 server on `opts.iface` in `ns`; resolves once it logged DHCP4_STARTED. */
export function startKea4(lab: Lab, ns: NsRef, opts: Kea4Options): Promise<LabProcess> {
  return startServer(lab, ns, kea4Command(lab, opts), opts.readyTimeoutMs);
}

/** Options of {@link startIscDhcpd}. */
export interface IscDhcpdOptions extends Dhcp4ServerOptions {
  /** The whole dhcpd.conf to use instead of the one built from `offer`. */
  config?: string;
}

/** The ISC dhcpd command for `opts`: foreground, logging to its output, no ping check. */
export function iscDhcpdCommand(lab: Lab, opts: IscDhcpdOptions): ServerCommand {
  const o = opts.offer ?? defaultOffer("10.81.0");
  const conf = lab.uniqueFile("dhcpd", ".conf");
  const leases = lab.uniqueFile("dhcpd", ".leases");
  writeFileSync(leases, "");
  writeFileSync(conf, opts.config ?? [
    "authoritative;",
    // The default ping before an offer would add a second to every exchange.
    "ping-check false;",
    `default-lease-time ${o.leaseSeconds};`,
    `max-lease-time ${o.leaseSeconds};`,
    "option rfc3442-classless-static-routes code 121 = array of integer 8;",
    `subnet ${o.net}.0 netmask ${prefixToMask(o.prefixLen)} {`,
    `  range ${o.rangeStart} ${o.rangeEnd};`,
    `  option routers ${o.router};`,
    `  option domain-name-servers ${o.dns.join(", ")};`,
    `  option domain-name "${o.domain}";`,
    `  option domain-search ${o.search.map((s) => `"${s}"`).join(", ")};`,
    `  option interface-mtu ${o.mtu};`,
    `  option rfc3442-classless-static-routes ${classlessBytes(allClassless(o)).join(", ")};`,
    "}",
    "",
  ].join("\n"));
  return {
    name: "dhcpd",
    argv: ["dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", leases, "-pf", lab.uniqueFile("dhcpd", ".pid"), ...(opts.extraArgs ?? []), opts.iface],
    configFile: conf,
    // Printed once its interfaces (LPF and the fallback UDP socket) are open.
    ready: (p, timeoutMs) => p.waitForLog(/Server starting service/, { timeoutMs }),
  };
}

/** Starts ISC dhcpd on `opts.iface` in `ns`; resolves once it logged "Server starting service". */
export function startIscDhcpd(lab: Lab, ns: NsRef, opts: IscDhcpdOptions): Promise<LabProcess> {
  return startServer(lab, ns, iscDhcpdCommand(lab, opts), opts.readyTimeoutMs);
}

/** Options of {@link startUdhcpd}. */
export interface UdhcpdOptions extends Dhcp4ServerOptions {
  /** ARP-ping timeout before an offer, ms (default 100; busybox's 2 s would dominate every exchange). */
  arpingMs?: number;
  /** The whole udhcpd.conf to use instead of the one built from `offer`. */
  config?: string;
}

/** The busybox udhcpd command for `opts`, in the foreground. */
export function udhcpdCommand(lab: Lab, opts: UdhcpdOptions): ServerCommand {
  const o = opts.offer ?? defaultOffer("10.81.0");
  const conf = lab.uniqueFile("udhcpd", ".conf");
  const leases = lab.uniqueFile("udhcpd", ".leases");
  writeFileSync(leases, "");
  writeFileSync(conf, opts.config ?? [
    `start ${o.rangeStart}`,
    `end ${o.rangeEnd}`,
    `interface ${opts.iface}`,
    `lease_file ${leases}`,
    `pidfile ${lab.uniqueFile("udhcpd", ".pid")}`,
    "max_leases 50",
    "auto_time 0",
    `option subnet ${prefixToMask(o.prefixLen)}`,
    `option router ${o.router}`,
    `option dns ${o.dns.join(" ")}`,
    `option domain ${o.domain}`,
    `option search ${o.search.join(" ")}`,
    `option mtu ${o.mtu}`,
    `option staticroutes ${allClassless(o).map((r) => `${r.dst} ${r.via}`).join(" ")}`,
    `option lease ${o.leaseSeconds}`,
    "",
  ].join("\n"));
  return {
    name: "udhcpd",
    argv: ["busybox", "udhcpd", "-f", "-a", String(opts.arpingMs ?? 100), ...(opts.extraArgs ?? []), conf],
    configFile: conf,
    // udhcpd logs "started" before it opens its socket: the bound port is the readiness.
    ready: ready67,
  };
}

/** Starts busybox udhcpd on `opts.iface` in `ns`; resolves once it has bound port 67. */
export function startUdhcpd(lab: Lab, ns: NsRef, opts: UdhcpdOptions): Promise<LabProcess> {
  return startServer(lab, ns, udhcpdCommand(lab, opts), opts.readyTimeoutMs);
}
