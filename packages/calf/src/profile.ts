/**
 * A calf's sandbox profile: what the priv gives it and holds it to. It is declared next to the
 * calf's code (a small module both the calf and the priv import), so reading one file tells what
 * a calf can do.
 */

/** What a calf is allowed, declared by its author, enforced by the priv. */
export interface CalfProfile {
  /** Short name: the container id prefix and the tag on its log lines ([a-z0-9-], ≤ 32). */
  name: string;
  /** The KV schema of its control channel (fd 3), e.g. "dhcp4". */
  schema: string;
  /** The egress policy the priv checks every frame from it against, e.g. "dhcp4-client". */
  egress: string;
  /** Memory limit of its cgroup. */
  memoryMiB: number;
  /** Process (thread) limit of its cgroup: Node needs about a dozen threads. */
  pids: number;
}

/** The pre-opened fds of every calf. */
export const CONTROL_FD = 3;
export const DATA_FD = 4;
