/**
 * Stable error codes of the KV store. A response's `error` carries "CODE: message"; clients
 * turn it back into a KvError with the same code.
 */
export const KvErrorCode = {
  /** The path is malformed: empty, too deep, a bad segment. */
  BAD_PATH: "PADDOCK_E_KV_BAD_PATH",
  /** No entry of the service's schema matches the path. */
  UNKNOWN_PATH: "PADDOCK_E_KV_UNKNOWN_PATH",
  /** The client's role may not perform this operation on this path. */
  FORBIDDEN: "PADDOCK_E_KV_FORBIDDEN",
  /** The path is written by priv only; a calf may at most read it. */
  READ_ONLY: "PADDOCK_E_KV_READ_ONLY",
  /** The value fails the path's validator. */
  INVALID_VALUE: "PADDOCK_E_KV_INVALID_VALUE",
  /** The value exceeds the path's size limit, or the store its total limit. */
  TOO_LARGE: "PADDOCK_E_KV_TOO_LARGE",
  /** A commit holds more than MAX_COMMIT_CHANGES changes, or one path twice. */
  BAD_COMMIT: "PADDOCK_E_KV_BAD_COMMIT",
  /** The pattern already holds its maximum number of keys. */
  TOO_MANY_KEYS: "PADDOCK_E_KV_TOO_MANY_KEYS",
  /** A read of a key that does not exist. */
  NOT_FOUND: "PADDOCK_E_KV_NOT_FOUND",
  /** The connection sent requests faster than its rate limit. */
  RATE_LIMITED: "PADDOCK_E_KV_RATE_LIMITED",
  /** Persisting the store failed; the write (or the whole commit) was not applied. */
  STORAGE: "PADDOCK_E_KV_STORAGE",
  /** The request broke the wire protocol (the connection is closed). */
  PROTOCOL: "PADDOCK_E_KV_PROTOCOL",
  /** Client side: no response within the timeout. */
  TIMEOUT: "PADDOCK_E_KV_TIMEOUT",
  /** Client side: the connection closed before the response. */
  CLOSED: "PADDOCK_E_KV_CLOSED",
  /** Client side: the server could not be reached. */
  CONNECT: "PADDOCK_E_KV_CONNECT",
} as const;
export type KvErrorCode = (typeof KvErrorCode)[keyof typeof KvErrorCode];

/** An error with a stable code, the path it concerns (when there is one) and its cause. */
export class KvError extends Error {
  override readonly name = "KvError";
  constructor(
    readonly code: KvErrorCode | string,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The wire form carried in a response's `error`. */
  toWire(): string {
    return `${this.code}: ${this.message}`;
  }

  /** Parses the wire form "CODE: message"; an unparseable one keeps the text as the message. */
  static fromWire(text: string, path?: string): KvError {
    const m = /^(PADDOCK_E_[A-Z0-9_]+): ?([\s\S]*)$/.exec(text);
    return m ? new KvError(m[1]!, m[2]!, path) : new KvError("PADDOCK_E_KV_UNKNOWN_ERROR", text, path);
  }
}
