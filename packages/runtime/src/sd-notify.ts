/**
 * sd_notify(3) for priv: the sender of READY=1, STATUS=, WATCHDOG=1 (decided in ./systemd.ts) and
 * STOPPING=1 when stop() begins (systemd `Type=notify`).
 *
 * The protocol is one AF_UNIX datagram to the path in NOTIFY_SOCKET ("@name" = abstract socket).
 * Node cannot send AF_UNIX datagrams (dgram is UDP only, net is stream only), so the senders are
 * tried in order:
 *   1. the addon's sendto() (@paddock/native sendUnixDatagram), from priv's own pid, so the
 *      default NotifyAccess=main accepts it;
 *   2. `systemd-notify`, if the addon cannot be loaded — as root it sends with priv's pid as the
 *      credentials;
 *   3. `perl` with the core Socket module (Debian's perl-base is Essential) — the datagram then
 *      comes from perl's pid, so the unit would need NotifyAccess=all.
 */

import { execFile } from "node:child_process";
import { sendUnixDatagram } from "@paddock/native";

/** Sends one notification datagram to `socketPath` ("/path" or "@abstract"). */
export type NotifySender = (socketPath: string, message: string) => Promise<void>;

/** States this module sends (sd_notify(3)). */
export type NotifyState = "READY=1" | "STOPPING=1" | "WATCHDOG=1" | `STATUS=${string}`;

/** systemd caps a notification at a page; STATUS= text is truncated below that. */
export const MAX_NOTIFY_BYTES = 4096;

/** How long a helper process may take before the notification is given up (systemd-notify waits on a barrier). */
export const NOTIFY_HELPER_TIMEOUT_MS = 5000;

/** Sends with the addon's sendto() from priv's own process, so NotifyAccess=main suffices. */
export const nativeNotifySender: NotifySender = async (socketPath, message) => {
  sendUnixDatagram(socketPath, new TextEncoder().encode(message));
};

/** Sends with systemd-notify (credentials of its parent: priv). */
export const systemdNotifySender: NotifySender = (socketPath, message) =>
  run("systemd-notify", [message], { NOTIFY_SOCKET: socketPath });

/** Sends with perl's core Socket module (credentials of the perl process). */
export const perlNotifySender: NotifySender = (socketPath, message) =>
  run(
    "perl",
    [
      "-MSocket",
      "-e",
      'socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\\n"; my $p = $ARGV[0]; $p =~ s/^@/\\0/;' +
        ' defined(send($s, $ARGV[1], 0, pack_sockaddr_un($p))) or die "send: $!\\n";',
      socketPath,
      message,
    ],
    {},
  );

function run(cmd: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, timeout: NOTIFY_HELPER_TIMEOUT_MS }, (err, _out, stderr) => {
      if (err) reject(new Error(`${cmd}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/** Tells systemd about priv's state; every method is a no-op without NOTIFY_SOCKET. */
export class SdNotifier {
  private readonly senders: readonly NotifySender[];
  private readySent = false;

  /**
   * @param socketPath NOTIFY_SOCKET's value, or undefined when not run by systemd.
   * @param senders tried in order until one succeeds.
   */
  constructor(
    readonly socketPath: string | undefined,
    senders: readonly NotifySender[] = [nativeNotifySender, systemdNotifySender, perlNotifySender],
  ) {
    this.senders = senders;
  }

  /** A notifier for this process's NOTIFY_SOCKET; removes it from `env` so no child inherits it. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, senders?: readonly NotifySender[]): SdNotifier {
    const socketPath = env["NOTIFY_SOCKET"];
    delete env["NOTIFY_SOCKET"];
    // Only absolute paths and abstract names are valid (sd_notify(3)); anything else is ignored.
    const valid = socketPath !== undefined && (socketPath.startsWith("/") || socketPath.startsWith("@"));
    return new SdNotifier(valid ? socketPath : undefined, senders);
  }

  /** True when there is somewhere to send to. */
  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  /** READY=1, at most once per process. */
  async ready(): Promise<void> {
    if (this.readySent) return;
    this.readySent = true;
    await this.notify("READY=1");
  }

  /** STOPPING=1. */
  async stopping(): Promise<void> {
    await this.notify("STOPPING=1");
  }

  /** Sends one state; rejects with every sender's error when none could deliver it. */
  async notify(state: NotifyState): Promise<void> {
    if (this.socketPath === undefined) return;
    // One assignment per line (sd_notify(3)): a newline in STATUS= text would smuggle in another.
    const oneLine = state.replace(/[\r\n]/g, " ");
    const message = Buffer.byteLength(oneLine) > MAX_NOTIFY_BYTES ? Buffer.from(oneLine).subarray(0, MAX_NOTIFY_BYTES).toString() : oneLine;
    const errors: unknown[] = [];
    for (const send of this.senders) {
      try {
        await send(this.socketPath, message);
        return;
      } catch (e) {
        errors.push(e);
      }
    }
    throw new AggregateError(errors, `sd_notify ${state} to ${this.socketPath} failed with every sender`);
  }
}
