/**
 * Phase 0 of a service host: the early start of one service's calf. A CLI command runs this
 * first, before the rest of the CLI and the priv have loaded (~70 ms of Node and bundle loading),
 * so that runc and the calf's own Node start-up (~100 ms) overlap with them. The calf's first
 * request waits on fd 3 until the priv serves it. The host then takes the running calf over
 * (Supervisor.start's `adopted`), or discards it if the host cannot start.
 *
 * It takes the service's interface pid lock before it removes any leftover, exactly as the host
 * does, and hands the lock over. Anything unexpected makes it step aside (undefined): the host's
 * own start then runs as usual and reports the problem in its words.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { calfNameFor, interfaceLockFile } from "./calf-name.ts";
import { foreignWriteAccess } from "./handlers/files.ts";
import { acquirePidLock, type PidLock } from "./pid-lock.ts";
import { createCalfBundle, parseCalfName, type CalfName } from "./sandbox/bundle.ts";
import { resolveContainerRuntime, type ContainerRuntime, type ContainerRuntimeChoice } from "./sandbox/container-runtime.ts";
import type { CalfEngine } from "./sandbox/engine.ts";
import { findExecutable } from "./sandbox/executable.ts";
import { removeStaleCalves, runCalfContainer, runRunc, type StartedCalf } from "./sandbox/spawn.ts";
import { markStartPhase } from "./start-phases.ts";

export { findExecutable };
export { isContainerRuntimeChoice, type ContainerRuntimeChoice } from "./sandbox/container-runtime.ts";
export { builtinCalfWithFallback, calfFileName, DEFAULT_CALF_ENGINE, isCalfEngine, type CalfEngine } from "./sandbox/engine.ts";

/** What the early start needs to know: the same values the host is started with. */
export interface EarlyCalfRequest {
  /** The service's name (its calf's name prefix). */
  service: string;
  iface: string;
  runtimeDir: string;
  /** The calf's file: its Node bundle, or its QuickJS executable when `engine` is quickjs. */
  calfScript: string;
  /** The engine the calf runs on (default node; decision 0010). */
  engine?: CalfEngine;
  calfMemoryBytes: number;
  calfPids: number;
  runc?: string;
  /** The container runtime asked for (default auto); resolved here as the host resolves it. */
  containerRuntime?: ContainerRuntimeChoice;
}

/** A calf started early, for the host to adopt or discard. */
export interface EarlyCalf {
  readonly name: CalfName;
  /** The service's interface pid lock, now the host's. */
  readonly lock: PidLock;
  readonly bundleDir: string;
  /** The container runtime it runs under: the host adopts it only under the same one. */
  readonly runtime: ContainerRuntime;
  /** The engine it runs on: the host adopts it only for a calf on the same one. */
  readonly engine: CalfEngine;
  readonly started: StartedCalf;
  /** Stops the calf and removes its container and bundle dir (when the host does not adopt it). */
  discard(): Promise<void>;
}

/**
 * The calves' dir and the container runtime's state under the host's runtime directory: runc's in
 * RUNTIME_DIR/runc, crun's in RUNTIME_DIR/crun (their state formats differ, so neither meets the other's).
 */
export function calfTarget(runtimeDir: string, runtime: ContainerRuntime): { runtimeDir: string; runcRoot: string; runtime: ContainerRuntime } {
  return { runtimeDir: path.join(runtimeDir, "calves"), runcRoot: path.join(runtimeDir, runtime.name), runtime };
}

/** Starts the calf if everything it needs is plainly there; undefined otherwise (never throws). */
export async function startCalfEarly(req: EarlyCalfRequest): Promise<EarlyCalf | undefined> {
  if (process.getuid?.() !== 0 || !existsSync(req.calfScript)) return undefined;
  const runtime = resolveContainerRuntime(req.containerRuntime ?? "auto", req.runc ? { runc: req.runc } : {});
  if (!runtime.ok) return undefined;
  markStartPhase("early: container runtime chosen");
  const name = parseCalfName(calfNameFor(req.service, req.iface));
  if (!name.ok) return undefined;
  try {
    // A runtime directory someone else owns or may write is the host's preflight's to refuse:
    // step aside before changing its mode or starting anything from it.
    if (existsSync(req.runtimeDir) && foreignWriteAccess(statSync(req.runtimeDir), 0) !== null) return undefined;
    mkdirSync(req.runtimeDir, { recursive: true, mode: 0o711 });
    if (foreignWriteAccess(statSync(req.runtimeDir), 0) !== null) return undefined;
    chmodSync(req.runtimeDir, 0o711);
    // The calf's unprivileged uid must traverse every parent (the host's preflight says why).
    for (let dir = path.resolve(req.runtimeDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return undefined;
    }
  } catch {
    return undefined;
  }
  let lock: PidLock;
  try {
    lock = acquirePidLock(interfaceLockFile(req.runtimeDir, req.service, req.iface));
  } catch {
    return undefined; // The service already runs on this interface: the host's start says so.
  }
  markStartPhase("early: lock taken");
  const target = calfTarget(req.runtimeDir, runtime.value);
  let bundleDir: string | undefined;
  try {
    await removeStaleCalves(target, [name.value]);
    markStartPhase("early: leftovers removed");
    const bundle = await createCalfBundle(
      { name: name.value, script: req.calfScript, engine: req.engine ?? "node", memoryBytes: req.calfMemoryBytes, pids: req.calfPids },
      { runtimeDir: target.runtimeDir },
    );
    bundleDir = bundle.dir;
    markStartPhase("early: calf bundle written");
    const started = await runCalfContainer(target, name.value, bundle.dir);
    markStartPhase("early: calf spawned");
    const dir = bundle.dir;
    let discarded = false;
    return {
      name: name.value,
      lock,
      bundleDir: dir,
      runtime: runtime.value,
      engine: req.engine ?? "node",
      started,
      async discard() {
        if (discarded) return;
        discarded = true;
        started.control.priv.destroy();
        started.data.priv.destroy();
        started.child.kill("SIGKILL");
        await started.closed;
        await runRunc(target, ["delete", "--force", bundle.containerId]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch {
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true }).catch(() => {});
    lock.release();
    return undefined;
  }
}
