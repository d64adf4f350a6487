/**
 * radvd sending IPv6 router advertisements (RFC 4861 §6) on an interface of a namespace
 * (Debian package `radvd`), with a fast advertisement interval so a client gets one promptly.
 */
import { writeFileSync } from "node:fs";
import type { Lab, NsRef } from "../lab.ts";
import type { LabProcess } from "../process.ts";
import { startServer, type CommonServerOptions, type ServerCommand } from "./server.ts";

/** Options of {@link startRadvd}. */
export interface RadvdOptions extends CommonServerOptions {
  /** The interface to advertise on. */
  iface: string;
  /** The prefix advertised for SLAAC (default 2001:db8:1::/64, the documentation range). */
  prefix?: string;
  /** Recursive DNS servers (RFC 8106 RDNSS). */
  rdnss?: string[];
  /** DNS search list (RFC 8106 DNSSL). */
  dnssl?: string[];
  /** Link MTU option. */
  mtu?: number;
  /** Unsolicited RA interval bounds, seconds (default 3–4: radvd's fastest). */
  intervalS?: { min: number; max: number };
  /** The whole radvd.conf to use instead of the one built from these options. */
  config?: string;
}

/** The radvd command for `opts`: foreground, logging to stderr at a level that shows readiness. */
export function radvdCommand(lab: Lab, opts: RadvdOptions): ServerCommand {
  const conf = lab.uniqueFile("radvd", ".conf");
  const interval = opts.intervalS ?? { min: 3, max: 4 };
  writeFileSync(conf, opts.config ?? [
    `interface ${opts.iface} {`,
    "  AdvSendAdvert on;",
    `  MinRtrAdvInterval ${interval.min};`,
    `  MaxRtrAdvInterval ${interval.max};`,
    ...(opts.mtu === undefined ? [] : [`  AdvLinkMTU ${opts.mtu};`]),
    `  prefix ${opts.prefix ?? "2001:db8:1::/64"} { AdvOnLink on; AdvAutonomous on; };`,
    ...(opts.rdnss?.length ? [`  RDNSS ${opts.rdnss.join(" ")} { };`] : []),
    ...(opts.dnssl?.length ? [`  DNSSL ${opts.dnssl.join(" ")} { };`] : []),
    "};",
    "",
  ].join("\n"));
  return {
    name: "radvd",
    // A pid file of its own: the default /run/radvd.pid would clash with the host's radvd.
    argv: ["radvd", "--nodaemon", "--logmethod", "stderr", "--debug", "3", "--config", conf, "--pidfile", lab.uniqueFile("radvd", ".pid"), ...(opts.extraArgs ?? [])],
    configFile: conf,
    // At debug level 3 radvd logs "polling for N second(s)" once its interfaces are set up and
    // its first advertisement is out: from then on it answers router solicitations.
    ready: (p, timeoutMs) => p.waitForLog(/polling for .* next iface is/, { timeoutMs }),
  };
}

/** Starts radvd on `opts.iface` in `ns`; resolves once it is advertising. */
export function startRadvd(lab: Lab, ns: NsRef, opts: RadvdOptions): Promise<LabProcess> {
  return startServer(lab, ns, radvdCommand(lab, opts), opts.readyTimeoutMs);
}
