/** The priv sandbox's one error: a stable code and one sentence saying what to do. */
export class PrivSandboxError extends Error {
  override readonly name = "PrivSandboxError";
  readonly code = "PADDOCK_E_PRIV_SANDBOX";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
