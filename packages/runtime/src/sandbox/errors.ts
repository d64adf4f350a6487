/**
 * The sandbox's error: one class, a stable code, the calf it concerns and the cause, so a log line
 * says what failed for whom without re-running it.
 */

/** Stable codes of sandbox and supervisor failures. */
export type SandboxErrorCode =
  /** A calf name is not `[a-z0-9][a-z0-9-]*`, 1–32 bytes (it becomes a container id and a path). */
  | "PADDOCK_E_SANDBOX_BAD_NAME"
  /** A spec field is out of range (memory, pids, a mount that is not absolute or escapes). */
  | "PADDOCK_E_SANDBOX_BAD_SPEC"
  /** The Node runtime's files could not be listed (`ldd` failed, a library is missing). */
  | "PADDOCK_E_SANDBOX_NODE_RUNTIME"
  /** Writing the bundle directory (config.json, rootfs targets) failed. */
  | "PADDOCK_E_SANDBOX_BUNDLE_WRITE"
  /** A calf could not be bundled (the code @paddock/bundler's BundleError carries). */
  | "PADDOCK_E_SANDBOX_CALF_BUILD"
  /** A runc command failed (see `cause` for its exit status and stderr). */
  | "PADDOCK_E_SANDBOX_RUNC"
  /** Creating a calf's channels (fd 3, fd 4) failed. */
  | "PADDOCK_E_SANDBOX_CHANNELS"
  /** A connection to a calf's socket was refused (wrong uid, no greeting, a second calf): docs/decisions/0013-external-calves.md. */
  | "PADDOCK_E_SANDBOX_CALF_PEER"
  /** LISTEN_FDS/LISTEN_FDNAMES from systemd do not describe the calves' sockets (./listen-fds.ts). */
  | "PADDOCK_E_SANDBOX_LISTEN_FDS"
  /** The supervisor was used after stop(), or a calf was added twice. */
  | "PADDOCK_E_SANDBOX_STATE";

/** A failure of the sandbox or the supervisor, with the calf it concerns. */
export class SandboxError extends Error {
  override readonly name = "SandboxError";
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    readonly calf?: string,
    options?: { cause?: unknown },
  ) {
    super(calf === undefined ? `${code}: ${message}` : `${code} [${calf}]: ${message}`, options);
  }
}
