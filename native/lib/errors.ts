/** Errors of the native layer: every failure of a system call made by the addon. */

/** Stable error code: `PADDOCK_E_NATIVE_` followed by the errno name (`PADDOCK_E_NATIVE_EPERM`). */
export type NativeErrorCode = `PADDOCK_E_NATIVE_${string}`;

/**
 * A system call made by the addon failed. Carries the errno by name and number and the call
 * that failed, so callers branch on `errno` ("EPERM", "EEXIST") rather than on message text.
 */
export class NativeError extends Error {
  /** Stable code, e.g. `PADDOCK_E_NATIVE_EPERM`. */
  readonly code: NativeErrorCode;
  /** The errno name, e.g. "EPERM". */
  readonly errno: string;
  /** The errno number, e.g. 1. */
  readonly errnoNumber: number;
  /** The call that failed, e.g. "setsockopt", "bind", "bpf_tc_attach". */
  readonly syscall: string;
  /** What the call was about (an option name, a path), or "". */
  readonly detail: string;

  /** Built by the addon through the factory registered in ./addon.ts. */
  constructor(errnoNumber: number, errno: string, syscall: string, detail = "", description = "") {
    const what = description === "" ? errno : `${errno} (${description})`;
    super(`${syscall}${detail === "" ? "" : ` [${detail.split("\n")[0]}]`}: ${what}`);
    this.name = "NativeError";
    this.code = `PADDOCK_E_NATIVE_${errno}`;
    this.errno = errno;
    this.errnoNumber = errnoNumber;
    this.syscall = syscall;
    this.detail = detail;
  }
}

/** True when `e` is a NativeError, optionally with the given errno name. */
export function isNativeError(e: unknown, errno?: string): e is NativeError {
  return e instanceof NativeError && (errno === undefined || e.errno === errno);
}
