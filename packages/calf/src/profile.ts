/**
 * A calf's sandbox profile: what the priv gives it and holds it to. It is declared next to the
 * calf's code (a small module both the calf and the priv import), so reading one file tells what
 * a calf can do.
 */

/**
 * What a calf says about itself. Everything the priv holds it to — its schema, its channels and
 * egress rules, its memory, pids and send-rate limits — is in its service's definition
 * (`defineService`), which the priv reads; a calf cannot widen any of it.
 */
export interface CalfProfile {
  /** Short name, for its log lines ([a-z0-9-], ≤ 32); usually the service's name. */
  name: string;
}

/** The pre-opened fds of every calf. */
export const CONTROL_FD = 3;
export const DATA_FD = 4;
