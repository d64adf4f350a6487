/**
 * The priv's own sandbox, applied by the serving commands (run, dhcp, ntp) once every host has
 * started: @paddock/runtime's sandboxPriv with the running services' needs, and one log line
 * saying what was kept. `--no-sandbox` skips it, for debugging (strace, gdb, a hook that needs
 * more) and for kernels without seccomp filters.
 */
import type { Logger } from "pino";
import { PrivSandboxError, sandboxPriv, type PrivCapabilityOptions, type SandboxedService } from "@paddock/runtime";
import { UserError } from "./errors.ts";

/** The --no-sandbox option's help text. */
export const NO_SANDBOX_HELP =
  "do not sandbox the priv after start-up (debugging only): it then keeps every capability, may gain privileges through exec and has no seccomp filter (docs/security-model.md §5)";

/** Sandboxes this process for `services`, or says why not (a UserError naming --no-sandbox). */
export function applyPrivSandbox(services: readonly SandboxedService[], enabled: boolean, log: Logger, opts: PrivCapabilityOptions = {}): void {
  if (!enabled) {
    log.warn({}, "the priv runs without its sandbox (--no-sandbox): every capability, no NoNewPrivs, no seccomp filter");
    return;
  }
  try {
    const started = process.hrtime.bigint();
    const r = sandboxPriv(services, opts);
    const ms = Number((process.hrtime.bigint() - started) / 1000n) / 1000;
    log.info(
      { ms, capabilities: r.capabilities.map((c) => c.replace(/^CAP_/, "").toLowerCase()).join(","), threads: r.threads, deniedSyscalls: r.deniedSyscalls.length, ...(r.unreachableThreads.length > 0 ? { idleThreads: r.unreachableThreads.join(",") } : {}) },
      "priv sandboxed: capabilities reduced, NoNewPrivs, seccomp deny list",
    );
  } catch (err) {
    if (err instanceof PrivSandboxError) throw new UserError(err.message);
    throw err;
  }
}
