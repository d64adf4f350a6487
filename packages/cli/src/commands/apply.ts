/**
 * `paddock serve DEPLOYMENT`: a priv run from a deployment file; `paddock apply NEW.yaml`: moves
 * it to a new one while it runs, restarting only what changed (../apply/serve.ts).
 *
 * apply validates the new file itself first (a file with problems changes nothing and says each in
 * one line), then hands it over: RUNTIME_DIR/serve/request.json, SIGHUP to the process holding
 * RUNTIME_DIR/serve.pid (as `paddock reload` signals a priv), and waits for result.json.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { acquirePidLock, lockHolder, LockedError, privCapabilities, requireRoot, serviceCapabilities, type PidLock } from "@paddock/runtime";
import { failedSummary, ServedDeployment, writePrivate, type ApplyResult } from "../apply/serve.ts";
import { UserError } from "../errors.ts";
import { applyPrivSandbox, NO_SANDBOX_HELP } from "../priv-sandbox.ts";
import { calfLaunchRequest } from "../calf-launch-option.ts";
import { createLogger, type LogFormat, type LogLevel } from "../log.ts";
import { logStartPhases } from "@paddock/runtime/start-phases";
import { builtinCalfScript } from "../services.ts";
import { loadDeployment, type LoadedDeployment } from "./generate.ts";
import { DEFAULT_RUNTIME_DIR, EXIT_NOT_RUNNING, parseReadyTimeout, READY_TIMEOUT_HELP } from "./operator.ts";

/** The serving priv's files under the runtime directory. */
export function serveFiles(runtimeDir: string): { lock: string; request: string; result: string } {
  return { lock: path.join(runtimeDir, "serve.pid"), request: path.join(runtimeDir, "serve", "request.json"), result: path.join(runtimeDir, "serve", "result.json") };
}

/** What apply asks (request.json). */
interface ApplyRequest {
  readonly id: string;
  readonly file: string;
  readonly variant: string | undefined;
}

/** result.json: an apply's result, or why the file was refused (nothing changed). */
type ServeResult = (ApplyResult & { readonly id: string }) | { readonly id: string; readonly refused: string };

/** How long `paddock apply` waits for the priv by default: starting a group waits for its calves. */
const DEFAULT_APPLY_TIMEOUT_S = 120;

interface ServeOptions {
  variant?: string;
  runtimeDir: string;
  stateDir: string;
  userDataDir?: string;
  bundleDir?: string;
  readyTimeout?: string;
  logLevel: string;
  logFormat: string;
  /** false (--no-sandbox): the priv keeps every capability and gets no seccomp filter. */
  sandbox: boolean;
}

async function serve(file: string, opts: ServeOptions): Promise<void> {
  if (!["debug", "info", "warn", "error"].includes(opts.logLevel)) throw new UserError(`--log-level must be debug, info, warn or error, not ${JSON.stringify(opts.logLevel)}`);
  if (!["text", "json"].includes(opts.logFormat)) throw new UserError(`--log-format must be text or json, not ${JSON.stringify(opts.logFormat)}`);
  try {
    requireRoot();
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const log = createLogger(opts.logLevel as LogLevel, opts.logFormat as LogFormat);
  logStartPhases(log);
  const files = serveFiles(opts.runtimeDir);
  const loaded: LoadedDeployment[] = [];
  const first = await loadDeployment(file, opts.variant);
  // How calves start is the priv's shape, fixed at start: the first file's calf-launch (an apply
  // that changes it is refused below).
  const launch = { calfLaunch: first.deployment.calfLaunch, calfUser: first.deployment.calfUser };
  let external: { uid: number } | undefined;
  let lock: PidLock;
  try {
    external = calfLaunchRequest(launch.calfLaunch, launch.calfLaunch === "external" ? launch.calfUser : undefined).externalCalves;
    // 0711, as every priv keeps it: the calves' unprivileged uid reaches its bundles through it.
    mkdirSync(opts.runtimeDir, { recursive: true, mode: 0o711 });
    lock = acquirePidLock(files.lock);
  } catch (err) {
    first.cleanup();
    if (err instanceof UserError) throw err;
    if (err instanceof LockedError) throw new UserError(`paddock serve already runs with the runtime directory ${opts.runtimeDir} (process ${err.pid}); change it with paddock apply`);
    throw new UserError(`cannot create the lock file ${files.lock}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  loaded.push(first);
  const served = new ServedDeployment({
    runtimeDir: opts.runtimeDir,
    stateDir: opts.stateDir,
    userDataDir: opts.userDataDir ?? path.join(opts.stateDir, "user-data"),
    ...(opts.bundleDir !== undefined ? { bundleDir: path.resolve(opts.bundleDir) } : {}),
    calfScript: (s) => (s.builtDir ? path.join(s.builtDir, "calf.mjs") : builtinCalfScript(s.name)),
    log,
    calfLogLevel: opts.logLevel as LogLevel,
    ...(opts.readyTimeout !== undefined ? { readyTimeoutMs: parseReadyTimeout(opts.readyTimeout) } : {}),
    ...(external ? { externalCalves: external } : {}),
  });
  // Applies run one at a time; a SIGHUP during one is served after it.
  let queue: Promise<unknown> = Promise.resolve();
  const onHup = () => {
    queue = queue.then(async () => {
      let request: ApplyRequest;
      try {
        request = JSON.parse(readFileSync(files.request, "utf8")) as ApplyRequest;
      } catch (err) {
        log.error({ file: files.request }, `SIGHUP without a readable apply request: ${(err as Error).message}`);
        return;
      }
      let result: ServeResult;
      try {
        const next = await loadDeployment(request.file, request.variant);
        loaded.push(next);
        if (next.deployment.calfLaunch !== launch.calfLaunch || (launch.calfLaunch === "external" && next.deployment.calfUser !== launch.calfUser)) {
          throw new Error(`calf-launch ${next.deployment.calfLaunch}${next.deployment.calfLaunch === "external" ? ` as ${next.deployment.calfUser}` : ""} differs from the running priv's (${launch.calfLaunch}${launch.calfLaunch === "external" ? ` as ${launch.calfUser}` : ""}); how calves start changes only with a restart of paddock serve`);
        }
        result = { id: request.id, ...(await served.apply(request.file, next.services)) };
      } catch (err) {
        log.error({ file: request.file }, `apply refused, running unchanged: ${(err as Error).message.split("\n").join("; ")}`);
        result = { id: request.id, refused: (err as Error).message };
      }
      await writePrivate(files.result, result).catch((err: Error) => log.error({ file: files.result, err: err.message }, "cannot write the apply result"));
    });
  };
  process.on("SIGHUP", onHup);
  let keepAlive: NodeJS.Timeout | undefined;
  try {
    // A signal listener does not keep Node's event loop alive: with no group left running (every
    // one failed) serve would end with status 0. This timer holds it until a signal stops it.
    keepAlive = setInterval(() => {}, 1 << 30);
    const stopped = new Promise<string>((resolve) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
    });
    const result = await served.start(path.resolve(file), first.services);
    // The priv's own sandbox, as paddock run's: what the first deployment's services need. An apply
    // that later needs more is refused for those services (ServedDeployment.keepCapabilities).
    const sandboxed = first.services.map((s) => ({ definition: s.definition, options: s.settings }));
    const runsCalves = { runsCalves: external === undefined };
    applyPrivSandbox(sandboxed, opts.sandbox, log, runsCalves);
    if (opts.sandbox) served.keepCapabilities(privCapabilities(sandboxed.map((s) => serviceCapabilities(s.definition, s.options)), runsCalves));
    await writePrivate(files.result, { id: "start", ...result });
    log.info({ signal: await stopped }, "stopping");
    await queue;
    await served.stop();
  } finally {
    clearInterval(keepAlive);
    process.off("SIGHUP", onHup);
    for (const l of loaded) l.cleanup();
    lock.release();
  }
}

async function apply(file: string, opts: { variant?: string; runtimeDir: string; timeout: string }): Promise<void> {
  const timeoutS = Number(opts.timeout);
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 3600) throw new UserError(`--timeout must be a whole number of seconds 1–3600, not ${JSON.stringify(opts.timeout)}`);
  // Checked here first: a file with problems changes nothing.
  (await loadDeployment(file, opts.variant)).cleanup();
  const files = serveFiles(opts.runtimeDir);
  const pid = lockHolder(files.lock);
  if (pid === undefined) throw new UserError(`paddock serve is not running with the runtime directory ${path.resolve(opts.runtimeDir)} (no live ${files.lock}); start it with paddock serve DEPLOYMENT`, EXIT_NOT_RUNNING);
  const request: ApplyRequest = { id: randomBytes(8).toString("hex"), file: path.resolve(file), variant: opts.variant };
  await writePrivate(files.request, request);
  process.kill(pid, "SIGHUP");
  const deadline = Date.now() + timeoutS * 1000;
  let result: ServeResult | undefined;
  while (Date.now() < deadline) {
    try {
      const r = JSON.parse(readFileSync(files.result, "utf8")) as ServeResult;
      if (r.id === request.id) {
        result = r;
        break;
      }
    } catch {
      // Not written yet (or being replaced): look again.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!result) throw new UserError(`process ${pid} did not answer within ${timeoutS} s; its log says what it is doing`);
  if ("refused" in result) throw new UserError(`the running priv refused ${file}, and runs unchanged: ${result.refused}`);
  for (const s of result.services) process.stdout.write(`${s.service} on ${s.iface}: ${s.outcome}${s.detail ? ` (${s.detail})` : ""}\n`);
  if (result.failed > 0) throw new UserError(failedSummary(result.failed, result.total));
  process.stdout.write(`applied: ${result.total} service${result.total === 1 ? "" : "s"}\n`);
}

export function registerApply(program: Command): void {
  program
    .command("serve")
    .description("run the services of a deployment file in one priv; paddock apply changes them while it runs, restarting only what changed (docs/generate.md)")
    .argument("<deployment>", "the deployment file (YAML, as for paddock generate)")
    .option("--variant <name>", "apply this variant of the file")
    .option("--runtime-dir <dir>", "calf bundles, runc state, locks, admin sockets and the apply hand-over", DEFAULT_RUNTIME_DIR)
    .option("--state-dir <dir>", "stores and handler records (DIR/IFACE/SERVICE)", "/var/lib/paddock")
    .option("--user-data-dir <dir>", "each service's user-data (DIR/SERVICE/user-data, 0700/0600); default STATE_DIR/user-data")
    .option("--bundle-dir <dir>", "run the calf bundles paddock generate wrote (DIR/SERVICE-IFACE)")
    .option("--ready-timeout <seconds>", READY_TIMEOUT_HELP)
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .option("--log-format <format>", "text or json", "text")
    .option("--no-sandbox", NO_SANDBOX_HELP)
    .action((file: string, opts: ServeOptions) => serve(file, opts));
  program
    .command("apply")
    .description("move a running paddock serve to a new deployment file: enables and disables services, restarts only those whose settings need it, reports \"N of M services failed\" while the others keep running")
    .argument("<deployment>", "the new deployment file")
    .option("--variant <name>", "apply this variant of the file")
    .option("--runtime-dir <dir>", "the runtime directory of the running paddock serve", DEFAULT_RUNTIME_DIR)
    .option("--timeout <seconds>", "how long to wait for the priv's answer", String(DEFAULT_APPLY_TIMEOUT_S))
    .action((file: string, opts: { variant?: string; runtimeDir: string; timeout: string }) => apply(file, opts));
}
