/**
 * chrony as an NTP server in a namespace (Debian package `chrony`). It never touches the host's
 * clock (`-x`), keeps its pid file in the lab, and serves its own clock as a local reference.
 */
import { existsSync, writeFileSync } from "node:fs";
import { TestkitError } from "../errors.ts";
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
  /** Serve only on this address (chrony's `bindaddress`): several servers in one namespace. */
  address?: string;
  /**
   * Serve a clock this far off the machine's, e.g. "+2s" (libfaketime's FAKETIME offset, Debian
   * package `faketime`): a server with a known offset. The monotonic clock is left alone.
   */
  fakeTime?: string;
}

/** Where Debian installs libfaketime (package faketime). */
const LIBFAKETIME = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"];

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
    ...(opts.address ? [`bindaddress ${opts.address}`] : []),
    ...(opts.extraConfig ?? []),
    "",
  ].join("\n"));
  let env: NodeJS.ProcessEnv | undefined;
  if (opts.fakeTime !== undefined) {
    const lib = LIBFAKETIME.find((f) => existsSync(f));
    if (!lib) throw new TestkitError("PADDOCK_E_TESTKIT_MISSING_COMMAND", "a chronyd with a fake time needs libfaketime: install the Debian package faketime");
    env = { ...process.env, LD_PRELOAD: lib, FAKETIME: opts.fakeTime, FAKETIME_DONT_FAKE_MONOTONIC: "1" };
  }
  return {
    ...(env ? { env } : {}),
    name: opts.address ? `chronyd ${opts.address}${opts.fakeTime ? ` (${opts.fakeTime})` : ""}` : "chronyd",
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
