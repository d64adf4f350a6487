/**
 * `paddock ra --iface IF [--temporary-addresses] [--resolv-conf PATH] [--route-metric N]`: the
 * friendly name of `paddock run ra`, the IPv6 router discovery service (SLAAC) on one interface in
 * the foreground until stopped, with its options as flags.
 */
import type { Command } from "commander";
import { withEarlyCalf } from "../early-entry.ts";
import { raService } from "@paddock/service-ra";
import { runSingleService, singleServiceCommand, type SingleService, type SingleServiceOptions } from "./single-service.ts";

interface RaOptions extends SingleServiceOptions {
  temporaryAddresses?: boolean;
  resolvConf?: string;
  routeMetric?: string;
  /** --no-solicit: false. */
  solicit?: boolean;
}

/** The service options the flags give (only those typed: the configuration file's stand otherwise). */
export function raFlagOptions(opts: RaOptions): Record<string, string> {
  return {
    ...(opts.temporaryAddresses !== undefined ? { "temporary-addresses": String(opts.temporaryAddresses) } : {}),
    ...(opts.resolvConf !== undefined ? { "resolv-conf": opts.resolvConf } : {}),
    ...(opts.routeMetric !== undefined ? { "route-metric": opts.routeMetric } : {}),
    ...(opts.solicit === false ? { solicit: "false" } : {}),
  };
}

const RA: SingleService = {
  definition: raService,
  what: "the RA client",
  oneInterface: "paddock ra runs on one interface: give --iface once (run one per interface)",
};

export function registerRa(program: Command): void {
  singleServiceCommand(
    program,
    "ra",
    "run the IPv6 router discovery service on an interface (paddock run ra, with its options as flags): SLAAC addresses with RFC 7217 stable identifiers, default and RFC 4191 routes, MTU, RDNSS/DNSSL; the kernel's own accept_ra and autoconf are off on the interface while it runs and restored at stop",
    "the interface to listen for router advertisements on",
    "store, audit log, ownership records and the RFC 7217 secret",
    (cmd) =>
      cmd
        .option("--temporary-addresses", "RFC 8981 temporary (privacy) addresses beside each stable one, made and retired by the kernel (default off)")
        .option("--resolv-conf <path>", "the resolv.conf the RA's DNS servers and search names are composed into (default /etc/resolv.conf; empty: leave it alone)")
        .option("--route-metric <n>", "metric of the RA's routes and priority of its DNS servers (default 1000 + the interface's index)")
        .option("--no-solicit", "send no router solicitations: only listen for unsolicited advertisements"),
  ).action((opts: RaOptions) => withEarlyCalf((early) => runSingleService(RA, opts, raFlagOptions(opts), early)));
}
