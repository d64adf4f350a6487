/**
 * chrony as an NTP server in a namespace (Debian package `chrony`). It never touches the host's
 * clock (`-x`), keeps its pid file in the lab, and serves its own clock as a local reference.
 */
import { writeFileSync } from "node:fs";
import type { Lab, NsRef } from "../lab.ts";
import { waitForUdpPort } from "../net.ts";
import type { LabProcess } from "../process.ts";
import { startServer, type CommonServerOptions, type ServerCommand } from "./server.ts";

/** The NTP port (RFC 5905 §7.2). */
const NTP_PORT = 123;

/** Options of {@link startChrony}. */
export interface ChronyOptions extends CommonServerOptions {
  /** Stratum it claims for its local clock (default 8: far from the top, as a test server should). */
  stratum?: number;
  /** Port to serve on (default 123). */
  port?: number;
  /** Extra chrony.conf lines appended to the generated configuration. */
  extraConfig?: string[];
  /** The whole chrony.conf to use instead (it must set `port`, and a `pidfile` outside /run). */
  config?: string;
}

/** The chronyd command for `opts`: foreground, no clock control, no command socket, serving everyone. */
export function chronyCommand(lab: Lab, opts: ChronyOptions = {}): ServerCommand {
  const port = opts.port ?? NTP_PORT;
  const conf = lab.uniqueFile("chrony", ".conf");
  writeFileSync(conf, opts.config ?? [
    `local stratum ${opts.stratum ?? 8}`,
    "allow all",
    `port ${port}`,
    // No command sockets (UDP, and the Unix one "/" disables): they would clash with the host's chronyd.
    "cmdport 0",
    "bindcmdaddress /",
    `pidfile ${lab.uniqueFile("chronyd", ".pid")}`,
    ...(opts.extraConfig ?? []),
    "",
  ].join("\n"));
  return {
    name: "chronyd",
    // -x: never adjust the clock (it is the host's: namespaces do not have their own);
    // -u root: keep root, so it can remove its pid file from the lab's directory on exit.
    argv: ["chronyd", "-d", "-x", "-u", "root", "-f", conf, ...(opts.extraArgs ?? [])],
    configFile: conf,
    ready: (p, timeoutMs) => waitForUdpPort(p, port, timeoutMs),
  };
}

/** Starts chronyd as an NTP server in `ns`; resolves once it has bound its NTP port. */
export function startChrony(lab: Lab, ns: NsRef, opts: ChronyOptions = {}): Promise<LabProcess> {
  return startServer(lab, ns, chronyCommand(lab, opts), opts.readyTimeoutMs);
}
