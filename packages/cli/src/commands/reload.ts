/**
 * `paddock reload [IF]`: asks the running priv(s) to re-read the configuration file — SIGHUP to
 * the process holding each service's interface lock (RUNTIME_DIR/SERVICE-IFACE.pid). The priv
 * validates the file whole and applies what may change live without dropping the lease; a file
 * with problems is one line in its log, and it runs on unchanged (../reload.ts). This command
 * only delivers the signal: what the priv did is in its log.
 */
import path from "node:path";
import type { Command } from "commander";
import { interfaceLockFile, lockHolder } from "@paddock/runtime";
import { UserError } from "../errors.ts";
import { BUILTIN_SERVICES } from "../services.ts";
import { DEFAULT_RUNTIME_DIR, EXIT_NOT_RUNNING, listAdminSockets } from "./operator.ts";

/** A running priv found by its lock: the process and the services (on interfaces) it holds. */
export interface RunningPriv {
  readonly pid: number;
  readonly held: readonly string[];
}

/**
 * The privs running services (on `iface`, or on any interface) in `runtimeDir`: each service's
 * interface lock names its process. The services are the built-in ones and any with an admin
 * socket there. One process per entry, however many services and interfaces it runs.
 */
export function findRunningPrivs(runtimeDir: string, iface?: string): RunningPriv[] {
  const sockets = listAdminSockets(runtimeDir);
  const candidates = new Map<string, { service: string; iface: string }>();
  const add = (service: string, on: string) => candidates.set(`${service}-${on}`, { service, iface: on });
  for (const s of sockets) if (iface === undefined || s.iface === iface) add(s.service, s.iface);
  if (iface !== undefined) for (const service of Object.keys(BUILTIN_SERVICES)) add(service, iface);
  const byPid = new Map<number, string[]>();
  for (const { service, iface: on } of candidates.values()) {
    const pid = lockHolder(interfaceLockFile(runtimeDir, service, on));
    if (pid === undefined) continue;
    byPid.set(pid, [...(byPid.get(pid) ?? []), `${service} on ${on}`]);
  }
  return [...byPid].map(([pid, held]) => ({ pid, held: held.sort() }));
}

/** Sends SIGHUP to each running priv; returns what it signalled. Throws UserError when none runs. */
export function reloadPrivs(runtimeDir: string, iface?: string): RunningPriv[] {
  const privs = findRunningPrivs(runtimeDir, iface);
  if (privs.length === 0) {
    throw new UserError(`no Paddock service is running${iface ? ` on ${iface}` : ""}: no live lock in ${path.resolve(runtimeDir)} (is paddock dhcp or paddock run running, with this --runtime-dir?)`, EXIT_NOT_RUNNING);
  }
  for (const p of privs) {
    try {
      process.kill(p.pid, "SIGHUP");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(code === "EPERM" ? `cannot signal process ${p.pid} (${p.held.join(", ")}): permission denied; run paddock reload as root` : `cannot signal process ${p.pid} (${p.held.join(", ")}): ${code ?? (err as Error).message}`);
    }
  }
  return privs;
}

export function registerReload(program: Command): void {
  program
    .command("reload")
    .description("re-read the configuration file in the running priv(s) without dropping leases: SIGHUP to the process holding each service's lock; what it applied, what needs a restart, or why it refused the file is in its log")
    .argument("[iface]", "only the priv serving this interface (default: every running one)")
    .option("--runtime-dir <dir>", "where the running services keep their locks and admin sockets", DEFAULT_RUNTIME_DIR)
    .action((iface: string | undefined, opts: { runtimeDir: string }) => {
      for (const p of reloadPrivs(opts.runtimeDir, iface)) process.stdout.write(`reload requested: process ${p.pid} (${p.held.join(", ")})\n`);
    });
}
