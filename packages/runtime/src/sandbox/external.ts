/**
 * Calves started outside the priv (docs/decisions/0013-external-calves.md): instead of running
 * runc, the priv listens on one AF_UNIX stream socket per calf, and the calf's launcher
 * (native/launcher/calf-launch.c, run by the calf's own systemd unit) connects to it twice —
 * control, then data — before it execs the calf with the connections at fd 3 and fd 4. The calf
 * then holds exactly what a runc-started calf holds.
 *
 * The socket is RUNTIME_DIR/calves/NAME.sock, made here, or one systemd listens on for the priv
 * (socket activation: LISTEN_FDS, with the calf's name in LISTEN_FDNAMES; ./listen-fds.ts).
 *
 * Who may connect: the kernel's record of the connecting process (SO_PEERCRED) must carry the
 * uid the deployment says calves run as; anything else is refused at once with a
 * PADDOCK_E_SANDBOX_CALF_PEER log line, before a byte of it is read. The two connections of one
 * calf come from one process: they are paired by its pid, and each must say which channel it is
 * with its first byte (HELLO_CONTROL, HELLO_DATA), so they cannot be swapped.
 *
 * A flood of connections does not grow the priv: at most MAX_PENDING_CONNECTIONS wait for their
 * greeting or their partner (each for at most HELLO_TIMEOUT_MS), one pair is connected at a time,
 * the rest are closed as they arrive, and the refusals are logged at most once per
 * REFUSAL_LOG_INTERVAL_MS with a count.
 */
import { chmod, lstat, mkdir, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { peerCredentials } from "@paddock/native";
import type { Logger } from "pino";
import type { CalfName } from "./bundle.ts";
import { SandboxError } from "./errors.ts";

/** The first byte of the control connection (fd 3). */
export const HELLO_CONTROL = 0x43; // 'C'
/** The first byte of the data connection (fd 4). */
export const HELLO_DATA = 0x44; // 'D'

/**
 * Connections that have not yet greeted or found their partner: a launcher makes two, so four
 * leaves room for a restart overlapping a stale pair, and bounds what a flood can hold open.
 */
export const MAX_PENDING_CONNECTIONS = 4;

/** The launcher greets right after connect(); a connection silent this long is not one. */
export const HELLO_TIMEOUT_MS = 10_000;

/** Refusals are logged at most this often (with how many there were), so a flood cannot fill the log. */
export const REFUSAL_LOG_INTERVAL_MS = 1_000;

/** How calves reach the priv when something else starts them. */
export interface ExternalCalfOptions {
  /** Where NAME.sock is made for a calf systemd hands no socket for (RUNTIME_DIR/calves). */
  readonly socketDir: string;
  /** The uid calves connect as (SO_PEERCRED); every other uid is refused. */
  readonly uid: number;
  /** Listening sockets handed over by systemd, by name (the calf's name); ./listen-fds.ts. */
  readonly listenFds?: ReadonlyMap<string, number>;
}

/** One connected calf: priv's ends of its channels and the process that connected them. */
export interface ExternalConnection {
  readonly control: net.Socket;
  readonly data: net.Socket;
  /** The launcher's pid, which became the calf's (it execs in place). */
  readonly pid: number;
}

/** The socket file of a calf when systemd does not hand one over. */
export function calfSocketPath(socketDir: string, name: string): string {
  return path.join(socketDir, `${name}.sock`);
}

/** The descriptor of a Node socket (a pipe handle's `fd`), or -1. */
function socketFd(sock: net.Socket): number {
  const handle = (sock as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === "number" ? handle.fd : -1;
}

/** A connection that has been accepted but not yet paired. */
interface Pending {
  readonly sock: net.Socket;
  readonly pid: number;
  readonly timer: NodeJS.Timeout;
  channel?: "control" | "data";
}

/** The listening socket of one calf and the pairs of connections it accepts. */
export class CalfListener {
  private readonly pending = new Set<Pending>();
  private waiter: { resolve: (c: ExternalConnection) => void; reject: (e: Error) => void } | undefined;
  private ready: ExternalConnection | undefined;
  private active: ExternalConnection | undefined;
  private closed = false;
  private refusedSinceLog = 0;
  private lastRefusalLog = Number.NEGATIVE_INFINITY;
  /** The latest refusal not logged yet, and the timer that logs it once the interval is over. */
  private unlogged: { why: string; pid: number | undefined } | undefined;
  private refusalLogTimer: NodeJS.Timeout | undefined;
  /** Connections refused over the listener's life (for tests and the admin view). */
  refusals = 0;

  private constructor(
    readonly name: CalfName,
    private readonly server: net.Server,
    private readonly uid: number,
    /** The socket file to remove at close; undefined when systemd owns it. */
    private readonly ownedPath: string | undefined,
    private readonly log: Logger,
  ) {
    server.on("connection", (sock) => this.accept(sock));
    // Node closes what is over maxConnections itself; count it as a refusal all the same.
    server.on("drop", () => this.refuse(undefined, "too many connections are open"));
    server.on("error", (err) => log.error({ err }, "calf socket error"));
  }

  /**
   * Listens for calf `name`: on the descriptor systemd handed over when there is one, else on a
   * fresh SOCKET_DIR/NAME.sock (a stale file there is removed; mode 0666, since SO_PEERCRED, not
   * the file's mode, decides who gets in — so the priv needs no CAP_CHOWN to give it to the calf's
   * user). Throws SandboxError PADDOCK_E_SANDBOX_CHANNELS when it cannot listen.
   */
  static async open(name: CalfName, opts: ExternalCalfOptions, log: Logger): Promise<CalfListener> {
    const server = net.createServer({ pauseOnConnect: true });
    server.maxConnections = MAX_PENDING_CONNECTIONS + 2;
    const fd = opts.listenFds?.get(name);
    let owned: string | undefined;
    try {
      if (fd !== undefined) {
        await listen(server, { fd });
      } else {
        owned = calfSocketPath(opts.socketDir, name);
        await mkdir(opts.socketDir, { recursive: true, mode: 0o711 });
        const old = await lstat(owned).catch(() => undefined);
        if (old?.isSocket()) await rm(owned, { force: true });
        await listen(server, { path: owned });
        await chmod(owned, 0o666);
      }
    } catch (e) {
      server.close();
      throw new SandboxError("PADDOCK_E_SANDBOX_CHANNELS", fd !== undefined ? `cannot listen on the socket systemd handed over (fd ${fd})` : `cannot listen on ${owned}`, name, { cause: e });
    }
    log.info({ socket: owned ?? `fd ${fd} (systemd)`, uid: opts.uid }, "waiting for the calf to connect");
    return new CalfListener(name, server, opts.uid, owned, log);
  }

  /**
   * The next calf that connected both channels. One calf at a time: call it again only after the
   * previous connection closed (`release`). Rejects with PADDOCK_E_SANDBOX_STATE once closed.
   */
  next(): Promise<ExternalConnection> {
    if (this.closed) return Promise.reject(new SandboxError("PADDOCK_E_SANDBOX_STATE", "the calf's socket is closed", this.name));
    if (this.ready) {
      const c = this.ready;
      this.ready = undefined;
      this.active = c;
      return Promise.resolve(c);
    }
    return new Promise((resolve, reject) => {
      this.waiter = {
        resolve: (c) => {
          this.active = c;
          resolve(c);
        },
        reject,
      };
    });
  }

  /** Says the active connection is over (its calf exited): the next pair may come. */
  release(): void {
    this.active = undefined;
  }

  /** Stops listening, closes every connection not handed out, and removes the socket file it made. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.refusalLogTimer);
    for (const p of this.pending) this.drop(p);
    if (this.ready) {
      this.ready.control.destroy();
      this.ready.data.destroy();
      this.ready = undefined;
    }
    this.waiter?.reject(new SandboxError("PADDOCK_E_SANDBOX_STATE", "stopping", this.name));
    this.waiter = undefined;
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.ownedPath) await rm(this.ownedPath, { force: true });
  }

  private accept(sock: net.Socket): void {
    if (this.closed) return void sock.destroy();
    if (this.pending.size >= MAX_PENDING_CONNECTIONS) return this.refuse(sock, `${MAX_PENDING_CONNECTIONS} connections are already waiting`);
    let cred: { pid: number; uid: number };
    try {
      cred = peerCredentials(socketFd(sock));
    } catch (err) {
      return this.refuse(sock, `its credentials cannot be read (${(err as Error).message})`);
    }
    if (cred.uid !== this.uid) return this.refuse(sock, `it comes from uid ${cred.uid} (pid ${cred.pid}), and calves connect as uid ${this.uid}`, cred.pid);
    const p: Pending = { sock, pid: cred.pid, timer: setTimeout(() => this.refusePending(p, `it sent no greeting within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS) };
    this.pending.add(p);
    sock.on("error", () => undefined);
    sock.once("close", () => this.drop(p));
    const onReadable = (): void => {
      // One byte only: what follows it is the calf's and stays in the socket's buffer.
      const hello = sock.read(1) as Buffer | null;
      if (hello === null) return;
      sock.off("readable", onReadable);
      this.greeted(p, hello[0]!);
    };
    sock.on("readable", onReadable);
  }

  private greeted(p: Pending, byte: number): void {
    if (byte === HELLO_CONTROL) {
      for (const other of this.pending) {
        if (other !== p && other.pid === p.pid && other.channel === "control") this.refusePending(other, "the same process connected its control channel again");
      }
      p.channel = "control";
      return;
    }
    if (byte !== HELLO_DATA) return this.refusePending(p, `its first byte is 0x${byte.toString(16)}, not a channel greeting`);
    const control = [...this.pending].find((o) => o.pid === p.pid && o.channel === "control");
    if (!control) return this.refusePending(p, "it is a data channel whose process connected no control channel first");
    if (this.active || this.ready) {
      this.refusePending(control, `calf ${this.name} is already connected (pid ${(this.active ?? this.ready)!.pid})`);
      return this.refusePending(p, `calf ${this.name} is already connected`);
    }
    for (const q of [control, p]) {
      clearTimeout(q.timer);
      this.pending.delete(q);
    }
    const conn: ExternalConnection = { control: control.sock, data: p.sock, pid: p.pid };
    this.log.info({ pid: p.pid }, "calf connected");
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(conn);
    } else {
      this.ready = conn;
    }
  }

  private drop(p: Pending): void {
    if (!this.pending.delete(p)) return;
    clearTimeout(p.timer);
    p.sock.destroy();
  }

  private refusePending(p: Pending, why: string): void {
    this.drop(p);
    this.refuse(undefined, why, p.pid);
  }

  /**
   * Closes `sock` and says why, in one line per REFUSAL_LOG_INTERVAL_MS at most: a refusal within
   * the interval is counted, and the line at its end gives the count and the latest reason.
   */
  private refuse(sock: net.Socket | undefined, why: string, pid?: number): void {
    sock?.destroy();
    this.refusals++;
    this.refusedSinceLog++;
    this.unlogged = { why, pid };
    const wait = REFUSAL_LOG_INTERVAL_MS - (performance.now() - this.lastRefusalLog);
    if (wait <= 0) return this.logRefusals();
    this.refusalLogTimer ??= setTimeout(() => {
      this.refusalLogTimer = undefined;
      this.logRefusals();
    }, wait).unref();
  }

  private logRefusals(): void {
    const last = this.unlogged;
    if (!last || this.closed) return;
    const err = new SandboxError("PADDOCK_E_SANDBOX_CALF_PEER", `a connection to calf ${this.name}'s socket was refused: ${last.why}`, this.name);
    this.log.warn({ err, code: err.code, ...(last.pid !== undefined ? { pid: last.pid } : {}), ...(this.refusedSinceLog > 1 ? { refused: this.refusedSinceLog } : {}) }, err.message.slice(err.message.indexOf(": ") + 2));
    this.refusedSinceLog = 0;
    this.unlogged = undefined;
    this.lastRefusalLog = performance.now();
  }
}

function listen(server: net.Server, where: { fd: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
