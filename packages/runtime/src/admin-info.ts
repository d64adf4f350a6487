/**
 * The answer to the admin socket's `info` request (docs/kv.md): what the priv knows about a
 * service that its store does not hold — its calf's state and restarts, its handlers' states —
 * for `paddock status`. One JSON object; the fields are documented in docs/operations.md and
 * only ever added to.
 */
import type { HandlerStatus } from "./handlers/reconciler.ts";
import type { CalfStatus } from "./supervisor.ts";
import type { ServiceReadiness } from "./systemd.ts";

/** The info object (version 1). */
export interface ServiceInfo {
  readonly version: 1;
  readonly service: string;
  readonly iface: string;
  /** The priv's process id. */
  readonly pid: number;
  /**
   * The service's own readiness and status line (its definition's `readiness`; the DHCP client:
   * ready once its lease is applied), or null for a service without one.
   */
  readonly readiness: ServiceReadiness | null;
  readonly calf: {
    readonly state: CalfStatus["state"] | "unknown";
    readonly restarts: number;
    /** How its last run ended: exit code (128 + signal when killed), seconds it ran. */
    readonly lastExit: { readonly code: number | null; readonly uptimeSeconds: number } | null;
  };
  readonly handlers: ReadonlyArray<{
    readonly name: string;
    readonly state: HandlerStatus["state"];
    readonly desired: string | null;
    readonly lastError: string | null;
    readonly conflicts: readonly string[];
  }>;
}

/** Builds the info object from the priv's live state. */
export function serviceInfo(parts: { service: string; iface: string; readiness: ServiceReadiness | undefined; calf: CalfStatus | undefined; handlers: readonly HandlerStatus[] }): ServiceInfo {
  const c = parts.calf;
  return {
    version: 1,
    service: parts.service,
    iface: parts.iface,
    pid: process.pid,
    readiness: parts.readiness ?? null,
    calf: {
      state: c?.state ?? "unknown",
      restarts: c?.restarts ?? 0,
      lastExit: c?.lastExit ? { code: c.lastExit.code, uptimeSeconds: Math.round(c.lastExit.uptimeMs / 1000) } : null,
    },
    handlers: parts.handlers.map((h) => ({ name: h.name, state: h.state, desired: h.desired ?? null, lastError: h.lastError?.message ?? null, conflicts: [...h.conflicts] })),
  };
}
