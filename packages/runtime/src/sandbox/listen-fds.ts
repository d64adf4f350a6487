/**
 * systemd socket activation (sd_listen_fds(3)): the listening sockets a `.socket` unit hands the
 * priv, fds 3…3+LISTEN_FDS-1, named by LISTEN_FDNAMES (each socket unit's FileDescriptorName=, the
 * calf's name in the units `paddock generate` writes). Read once per process: the variables are
 * removed from the environment so no child (a hook, runc) believes the sockets are its own.
 */
import { SandboxError } from "./errors.ts";

/** sd_listen_fds(3): the first passed descriptor. */
export const SD_LISTEN_FDS_START = 3;

/** More sockets than calves a priv could host; a larger LISTEN_FDS is a corrupted environment. */
const MAX_LISTEN_FDS = 256;

/**
 * The named descriptors in `env` meant for process `pid` (an empty map when LISTEN_PID names
 * another process or the variables are absent). Throws SandboxError PADDOCK_E_SANDBOX_LISTEN_FDS
 * for variables that are there but malformed.
 */
export function parseListenFds(env: Readonly<Record<string, string | undefined>>, pid: number): Map<string, number> {
  const out = new Map<string, number>();
  if (env.LISTEN_FDS === undefined || env.LISTEN_PID === undefined) return out;
  if (env.LISTEN_PID !== String(pid)) return out;
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 0 || count > MAX_LISTEN_FDS) throw new SandboxError("PADDOCK_E_SANDBOX_LISTEN_FDS", `LISTEN_FDS=${JSON.stringify(env.LISTEN_FDS)} is not a number of descriptors (0–${MAX_LISTEN_FDS})`);
  const names = (env.LISTEN_FDNAMES ?? "").split(":");
  if (env.LISTEN_FDNAMES === undefined || names.length !== count) throw new SandboxError("PADDOCK_E_SANDBOX_LISTEN_FDS", `LISTEN_FDNAMES names ${env.LISTEN_FDNAMES === undefined ? "no" : names.length} descriptors, LISTEN_FDS says ${count}: give each calf's .socket unit FileDescriptorName=CALF`);
  names.forEach((n, i) => out.set(n, SD_LISTEN_FDS_START + i));
  return out;
}

let taken: Map<string, number> | undefined;

/** This process's sockets from systemd, read from process.env at the first call (which removes the variables). */
export function takeListenFds(): ReadonlyMap<string, number> {
  if (taken) return taken;
  taken = parseListenFds(process.env, process.pid);
  for (const k of ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]) delete process.env[k];
  return taken;
}
