/**
 * `paddock dhcp6 --iface IF [--mode auto|stateful|stateless] [--ia-pd LEN] …`: the friendly name of
 * `paddock run dhcp6`, the DHCPv6 client service on one interface in the foreground until stopped,
 * with its options as flags.
 */
import type { Command } from "commander";
import { withEarlyCalf } from "../early-entry.ts";
import { dhcp6Service } from "@paddock/service-dhcp6";
import { runSingleService, singleServiceCommand, type SingleService, type SingleServiceOptions } from "./single-service.ts";

interface Dhcp6Flags extends SingleServiceOptions {
  mode?: string;
  iaNa?: boolean;
  iaPd?: string;
  duid?: string;
  rapidCommit?: boolean;
  prefixDelegation?: string[];
  resolvConf?: string;
  release?: boolean;
}

/** The service options the flags give (only those typed: the configuration file's stand otherwise). */
export function dhcp6FlagOptions(opts: Dhcp6Flags): Record<string, string | boolean> {
  return {
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.iaNa !== undefined ? { "ia-na": opts.iaNa } : {}),
    ...(opts.iaPd !== undefined ? { "ia-pd": opts.iaPd } : {}),
    ...(opts.duid !== undefined ? { duid: opts.duid } : {}),
    ...(opts.rapidCommit !== undefined ? { "rapid-commit": opts.rapidCommit } : {}),
    ...(opts.prefixDelegation !== undefined ? { "prefix-delegation": opts.prefixDelegation.join(",") } : {}),
    ...(opts.resolvConf !== undefined ? { "resolv-conf": opts.resolvConf } : {}),
    ...(opts.release !== undefined ? { "release-on-stop": opts.release } : {}),
  };
}

const DHCP6: SingleService = {
  definition: dhcp6Service,
  what: "the DHCPv6 client",
  oneInterface: "paddock dhcp6 runs on one interface: give --iface once (paddock run dhcp6 --iface A --iface B runs it on several)",
};

export function registerDhcp6(program: Command): void {
  singleServiceCommand(
    program,
    "dhcp6",
    "run the DHCPv6 client service on an interface (paddock run dhcp6, with its options as flags): IA_NA addresses as /128s with the server's lifetimes, a delegated prefix (--ia-pd) with /64s for downstream interfaces, DNS into resolv.conf",
    "the interface to run on (its link-local address must pass duplicate address detection first)",
    "store, audit log, DUID and ownership records",
    (cmd) =>
      cmd
        .option("--mode <mode>", "auto (follow the router advertisement's M and O flags when paddock ra runs in the same priv; stateful otherwise; the default), stateful (SOLICIT) or stateless (INFORMATION-REQUEST, DNS only)")
        .option("--no-ia-na", "stateful: ask for no address (IA_NA), e.g. only a prefix")
        .option("--ia-pd <length>", "stateful: ask for a delegated prefix (IA_PD) with this length hint (0: no hint); default off")
        .option("--duid <kind>", "the client's DUID: ll (from the MAC; the default), llt (MAC and the time it is first made), uuid (/etc/machine-id) or a DUID in hex; kept in the state directory")
        .option("--no-rapid-commit", "do not offer rapid commit (always SOLICIT, ADVERTISE, REQUEST, REPLY)")
        .option("--prefix-delegation <iface=id>", "give downstream interface IFACE the /64 with sub-prefix id ID of the delegated prefix (its address PREFIX::1/64); repeat it for several", (v: string, acc: string[] = []) => [...acc, v])
        .option("--resolv-conf <path>", "the resolv.conf the DNS servers go to (default /etc/resolv.conf; empty: leave it alone)")
        .option("--no-release", "at stop, keep the lease (no RELEASE): the addresses stay until their lifetimes end"),
  ).action((opts: Dhcp6Flags) => withEarlyCalf((early) => runSingleService(DHCP6, opts, dhcp6FlagOptions(opts), early)));
}
