/**
 * The priv's own sandbox at run time (issue 12; docs/security-model.md §5, decision 0009),
 * applied once the priv has started, whether or not systemd started it:
 *
 * 1. capabilities: every thread keeps only what runc, the priv's own work and the running
 *    services need (./capabilities.ts), in its bounding, permitted and effective sets; the
 *    inheritable and ambient sets are emptied;
 * 2. NoNewPrivs and a seccomp deny list (./seccomp.ts) on every thread, inherited by all the
 *    priv starts (runc, calves, hooks).
 *
 * SIGUSR1 is made harmless separately and earlier, at the very start of the process
 * (packages/cli/bin/paddock.mjs calls native ignoreDebugSignal()).
 */
import { readFileSync } from "node:fs";
import { dropCapabilities, ignoreDebugSignal, installSeccomp, isNativeError } from "@paddock/native";
import type { OptionDefinition, ServiceDefinition } from "../service.ts";
import { parseServiceOptions } from "../service.ts";
import { capabilityNumber, isCapabilityName, privCapabilities, type CapabilityName, type PrivCapabilityOptions } from "./capabilities.ts";
import { PrivSandboxError } from "./errors.ts";
import { privDenied, privSeccompProgram } from "./seccomp.ts";

export * from "./capabilities.ts";
export { PrivSandboxError } from "./errors.ts";
export { PRIV_DENIED, PRIV_DENIED_SYSCALLS, privDenied, privSeccompProgram, RUNC_ONLY_SYSCALLS } from "./seccomp.ts";

/** A service as the priv runs it: its definition and its settings on one interface. */
export interface SandboxedService {
  readonly definition: ServiceDefinition<any>;
  readonly options: Readonly<Record<string, string | boolean | number>>;
}

/**
 * The capabilities a service needs with its settings: what its channels imply, and what its
 * definition's `privCapabilities` declares.
 * A name capabilities(7) does not know is the definition's mistake, said in one sentence.
 */
export function serviceCapabilities<O extends Readonly<Record<string, OptionDefinition>>>(def: ServiceDefinition<O>, settings: Readonly<Record<string, string | boolean | number>>): CapabilityName[] {
  // A UDP channel on a port below 1024 (a DHCPv6 client's 546) is bound again whenever the
  // interface comes back, so binding it is a need of the whole run, not of start-up only.
  const port = def.channels.udp?.localPort ?? 0;
  const implied: string[] = port > 0 && port < 1024 ? ["CAP_NET_BIND_SERVICE"] : [];
  const declared = [...implied, ...(def.privCapabilities?.(parseServiceOptions(def, settings)) ?? [])];
  const unknown = declared.filter((name) => !isCapabilityName(name));
  if (unknown.length > 0) throw new PrivSandboxError(`the service ${def.name} asks for ${unknown.map((n) => JSON.stringify(n)).join(", ")}, which ${unknown.length > 1 ? "are not capabilities" : "is not a capability"} (names as in capabilities(7), e.g. "CAP_SYS_TIME")`);
  return declared as CapabilityName[];
}

/** What sandboxPriv did, for the log. */
export interface PrivSandboxReport {
  /** The capabilities every thread kept. */
  readonly capabilities: readonly CapabilityName[];
  /** Threads that kept only those. */
  readonly threads: number;
  /** Threads that block every signal and so kept theirs (Node's idle SIGUSR1 watcher). */
  readonly unreachableThreads: readonly number[];
  /** The system calls the filter refuses. */
  readonly deniedSyscalls: readonly string[];
}

/** The highest capability number this kernel knows. */
function lastCapability(): number {
  try {
    return Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
  } catch {
    return 40; // CAP_CHECKPOINT_RESTORE, the last one of Linux 5.9–6.x
  }
}

/**
 * Sandboxes this process for `services` (see the file's comment). Throws a PrivSandboxError
 * whose message says what failed and what to do; the caller stops what it started.
 */
export function sandboxPriv(services: readonly SandboxedService[], opts: PrivCapabilityOptions = {}): PrivSandboxReport {
  // Again, for a priv not started through bin/paddock.mjs (the packed executable, an SDK user's own).
  ignoreDebugSignal();
  const capabilities = privCapabilities(services.map((s) => serviceCapabilities(s.definition, s.options)), opts);
  let drop;
  try {
    drop = dropCapabilities(capabilities.map(capabilityNumber), lastCapability());
  } catch (err) {
    const why = isNativeError(err) ? `${err.syscall}: ${err.errno}` : (err as Error).message;
    throw new PrivSandboxError(`the priv could not drop its capabilities (${why}): give it CAP_SETPCAP, or a bounding set of only what it keeps (${capabilities.join(" ")}, e.g. a unit's CapabilityBoundingSet), or start it with --no-sandbox`, { cause: err });
  }
  try {
    installSeccomp(privSeccompProgram(process.arch, opts));
  } catch (err) {
    if (err instanceof PrivSandboxError) throw err;
    const why = isNativeError(err) ? `${err.syscall}: ${err.errno}` : (err as Error).message;
    throw new PrivSandboxError(`the priv could not install its seccomp filter (${why}): run it on a kernel with seccomp filters, or with --no-sandbox`, { cause: err });
  }
  return { capabilities, threads: drop.threads, unreachableThreads: drop.unreachable, deniedSyscalls: privDenied(opts) };
}
