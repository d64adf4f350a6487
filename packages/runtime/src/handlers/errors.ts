/**
 * Handler errors: one code per step that can fail, named after the action, carrying the handler,
 * the step and the underlying error (a NetlinkError with errno and the kernel's extack text, or a
 * file-system error with its errno code).
 */

/** Stable codes of handler failures. */
export const HandlerErrorCode = {
  /** The interface could not be found or read (ENODEV: not there yet). */
  LINK: "PADDOCK_E_HANDLER_LINK",
  /** Adding, refreshing or removing an address failed. */
  ADDRESS: "PADDOCK_E_HANDLER_ADDRESS",
  /** Setting or restoring the MTU failed. */
  MTU: "PADDOCK_E_HANDLER_MTU",
  /** Installing or removing a route failed. */
  ROUTES: "PADDOCK_E_HANDLER_ROUTES",
  /** Writing or restoring resolv.conf failed. */
  RESOLV_CONF: "PADDOCK_E_HANDLER_RESOLV_CONF",
  /** Setting or restoring the host name failed. */
  HOSTNAME: "PADDOCK_E_HANDLER_HOSTNAME",
  /** Setting or restoring a sysctl (net.ipv6.conf.IF.accept_ra, .mtu, …) failed. */
  SYSCTL: "PADDOCK_E_HANDLER_SYSCTL",
  /** The ownership record could not be written (nothing was applied after that). */
  OWNERSHIP: "PADDOCK_E_HANDLER_OWNERSHIP",
} as const;
/** A handler error code. */
export type HandlerErrorCode = (typeof HandlerErrorCode)[keyof typeof HandlerErrorCode];

/** A failed step of a handler's apply. */
export class HandlerError extends Error {
  override readonly name = "HandlerError";
  constructor(
    readonly code: HandlerErrorCode,
    readonly handler: string,
    readonly step: string,
    cause: unknown,
  ) {
    super(`${handler}/${step}: ${code}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }

  /** The errno of the underlying failure ("ENODEV", "EACCES"), when there is one. */
  get errno(): string | undefined {
    const c = this.cause as { errno?: unknown; code?: unknown } | undefined;
    if (typeof c?.errno === "string") return c.errno;
    if (typeof c?.code === "string" && /^E[A-Z0-9]+$/.test(c.code)) return c.code;
    return undefined;
  }
}

/** Runs one step, turning any failure into a HandlerError with the step's code. */
export async function step<T>(code: HandlerErrorCode, handler: string, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HandlerError) throw err;
    throw new HandlerError(code, handler, name, err);
  }
}
