/**
 * The kit's one error type. Every failure names what was being done, with a stable code a test
 * (or a CI log search) can match, and keeps the underlying cause.
 */

/** Stable codes of {@link TestkitError}. */
export type TestkitErrorCode =
  /** A command the kit or a server needs is not installed; the message names the Debian package. */
  | "PADDOCK_E_TESTKIT_MISSING_COMMAND"
  /** A command the kit ran (ip, nsenter, …) exited non-zero. */
  | "PADDOCK_E_TESTKIT_COMMAND_FAILED"
  /** A wait ({@link waitFor}, a log line, an address, a socket) ran out of time. */
  | "PADDOCK_E_TESTKIT_TIMEOUT"
  /** A process exited while something was waiting for it to become ready. */
  | "PADDOCK_E_TESTKIT_EXITED"
  /** The lab was used after `destroy()`, or a name broke a kernel limit. */
  | "PADDOCK_E_TESTKIT_USAGE";

/** An error of the kit, with a stable code, and the cause when there is one. */
export class TestkitError extends Error {
  constructor(
    readonly code: TestkitErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TestkitError";
  }
}
