/**
 * The hostname handler: sets the host name a lease carries, only when enabled.
 *
 * Node has no sethostname(); writing /proc/sys/kernel/hostname is the same system call for the
 * writer's UTS namespace (proc(5)), with no process to spawn. The path is a parameter so tests
 * use a temporary file. The original name is recorded before the first change and restored when
 * the lease goes away, unless someone else has changed the name since.
 */
import { promises as fsp } from "node:fs";
import path from "node:path";
import type { HostName } from "@paddock/kv";
import { HandlerErrorCode, OwnershipFile, readTextOrNull, silentLogger, step, type ApplyReport, type Handler, type HandlerLogger, type StoreView } from "@paddock/runtime";
import { desiredLease } from "./lease.ts";
import { emptyHostnameOwnership, parseHostnameOwnership, type HostnameOwnership } from "./records.ts";

/** Where the kernel exposes the UTS namespace's host name. */
export const PROC_HOSTNAME = "/proc/sys/kernel/hostname";

/** File name of the hostname handler's ownership record in the state directory. */
export const HOSTNAME_OWNERSHIP_FILE = "handler-hostname.json";

/** Options of the hostname handler. */
export interface HostnameHandlerOptions {
  /** Apply the lease's host name at all (off by default in the shim's configuration). */
  readonly enabled: boolean;
  readonly stateDir: string;
  /** Default PROC_HOSTNAME. */
  readonly hostnamePath?: string;
  readonly name?: string;
  readonly log?: HandlerLogger;
}

/** The hostname handler's desired state: the name to set, or null to restore the original. */
export interface HostnameDesired {
  /** A parsed host name (≤ 64 bytes, letters-digits-hyphens labels: sethostname() takes it as it is). */
  readonly hostname: HostName | null;
}

/** Sets the lease's host name (when enabled) and restores the original when the lease goes away. */
export class HostnameHandler implements Handler<HostnameDesired> {
  readonly name: string;
  private readonly opts: HostnameHandlerOptions;
  private readonly file: string;
  private readonly own: OwnershipFile<HostnameOwnership>;

  constructor(opts: HostnameHandlerOptions) {
    this.opts = opts;
    this.name = opts.name ?? "hostname";
    this.file = opts.hostnamePath ?? PROC_HOSTNAME;
    this.own = new OwnershipFile(path.join(opts.stateDir, HOSTNAME_OWNERSHIP_FILE), emptyHostnameOwnership, parseHostnameOwnership, opts.log ?? silentLogger);
  }

  desired(store: StoreView, now: number): HostnameDesired {
    if (!this.opts.enabled) return { hostname: null };
    return { hostname: desiredLease(store.parsed, now).lease?.hostname ?? null };
  }

  describe(d: HostnameDesired): string {
    return d.hostname === null ? (this.opts.enabled ? "no host name from the lease" : "disabled") : d.hostname;
  }

  wakeAt(): number | undefined {
    return undefined;
  }

  async apply(d: HostnameDesired): Promise<ApplyReport> {
    return step(HandlerErrorCode.HOSTNAME, this.name, "hostname", () => this.converge(d));
  }

  private async converge(d: HostnameDesired): Promise<ApplyReport> {
    const changes: string[] = [];
    const conflicts: string[] = [];
    const rec = this.own.get();
    const current = ((await readTextOrNull(this.file)) ?? "").trim();
    const want = d.hostname;
    if (want === null || (rec.hostname !== null && rec.hostname.path !== this.file)) {
      if (rec.hostname !== null) {
        const { path: p, original, applied } = rec.hostname;
        const there = p === this.file ? current : ((await readTextOrNull(p)) ?? "").trim();
        if (there === applied) {
          await fsp.writeFile(p, original);
          changes.push(`restore host name ${JSON.stringify(original)}`);
        } else {
          conflicts.push(`host name was changed to ${JSON.stringify(there)} by someone else: not restored to ${JSON.stringify(original)}`);
        }
        await this.own.set({ ...rec, hostname: null });
      }
      if (want === null) return { changes, conflicts };
    }
    const now = this.own.get();
    // Write-ahead: the original is on disk before the name changes.
    if (now.hostname === null) await this.own.set({ ...now, hostname: { path: this.file, original: current, applied: want } });
    else if (now.hostname.applied !== want) await this.own.set({ ...now, hostname: { ...now.hostname, applied: want } });
    if (current !== want) {
      await fsp.writeFile(this.file, want);
      changes.push(`host name ${JSON.stringify(want)} (was ${JSON.stringify(current)})`);
    }
    return { changes, conflicts };
  }
}
