/**
 * The operator's commands against running services, through their admin sockets
 * (RUNTIME_DIR/SERVICE-IFACE.sock, mode 0600):
 *
 *   paddock status [IF] [--json]       what each service holds and does (docs/operations.md)
 *   paddock renew IF / release IF      ask the DHCP client to renew now / give its lease back
 *   paddock wait-online [--iface IF…]  exit 0 once the services are ready (network-online.target)
 *
 * and the one way every client command (these and `paddock kv …`) finds a socket: by interface
 * and service (findAdminSocket), or an explicit --socket.
 */
import { lstatSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { connectKv, KvError, type KvClient } from "@paddock/kv";
import { escapeControlText, escapeJsonControls, SERVICE_NAME, type ServiceInfo } from "@paddock/runtime";
import { UserError } from "../errors.ts";
import { BUILTIN_SERVICES } from "../services.ts";

/** Where services put their admin sockets unless run with --runtime-dir. */
export const DEFAULT_RUNTIME_DIR = "/run/paddock";

/** The service whose socket is chosen when it is the only one on an interface. */
const DEFAULT_SERVICE = "dhcp4";

/** --ready-timeout's help text (paddock run, paddock dhcp). */
export const READY_TIMEOUT_HELP = "systemd (Type=notify): send READY=1 after this many seconds even when a service is not ready yet — for DHCP, no lease applied — with STATUS= saying so (default 30)";

/** --ready-timeout in milliseconds; one sentence for a bad value. */
export function parseReadyTimeout(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || n > 86_400) throw new UserError(`--ready-timeout must be a number of seconds from 0 to 86400, not ${JSON.stringify(text)}`);
  return Math.round(n * 1000);
}

/** Exit status of `paddock status` when a service it was asked about is not running (as LSB's "not running"). */
export const EXIT_NOT_RUNNING = 3;

/** One admin socket found in a runtime directory. */
export interface AdminSocket {
  readonly service: string;
  readonly iface: string;
  readonly path: string;
}

/** The admin sockets in `runtimeDir`: Unix sockets named SERVICE-IFACE.sock, sorted by interface then service. */
export function listAdminSockets(runtimeDir: string): AdminSocket[] {
  let names: string[];
  try {
    names = readdirSync(runtimeDir);
  } catch {
    return [];
  }
  const found: AdminSocket[] = [];
  for (const name of names) {
    const m = /^([^-]+)-(.{1,15})\.sock$/.exec(name);
    if (!m || !SERVICE_NAME.test(m[1]!)) continue;
    const file = path.join(runtimeDir, name);
    try {
      if (!lstatSync(file).isSocket()) continue;
    } catch {
      continue;
    }
    found.push({ service: m[1]!, iface: m[2]!, path: file });
  }
  return found.sort((a, b) => a.iface.localeCompare(b.iface) || a.service.localeCompare(b.service));
}

/** How a client command names the socket it talks to. */
export interface SocketChoice {
  readonly socket?: string;
  readonly iface?: string;
  readonly service?: string;
  readonly runtimeDir: string;
}

/** The admin socket a client command means, or one sentence saying why there is none or which to pick. */
export function findAdminSocket(choice: SocketChoice): AdminSocket {
  if (choice.socket !== undefined) return { service: choice.service ?? "?", iface: choice.iface ?? "?", path: choice.socket };
  const all = listAdminSockets(choice.runtimeDir);
  const named = (s: AdminSocket) => `${s.service} on ${s.iface}`;
  if (choice.iface === undefined) {
    const candidates = choice.service === undefined ? all : all.filter((s) => s.service === choice.service);
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) throw new UserError(`no Paddock service${choice.service ? ` ${choice.service}` : ""} is running: there is no admin socket in ${choice.runtimeDir} (name one with --socket, or another --runtime-dir)`);
    throw new UserError(`several services are running (${candidates.map(named).join(", ")}): choose one with --iface${choice.service ? "" : " and --service"}`);
  }
  const onIface = all.filter((s) => s.iface === choice.iface);
  if (choice.service !== undefined) {
    const s = onIface.find((x) => x.service === choice.service);
    if (s) return s;
    throw new UserError(`the service ${choice.service} is not running on ${choice.iface}: there is no ${choice.service}-${choice.iface}.sock in ${choice.runtimeDir}${onIface.length ? ` (running there: ${onIface.map((x) => x.service).join(", ")})` : ""}`);
  }
  if (onIface.length === 1) return onIface[0]!;
  if (onIface.length === 0) throw new UserError(`no Paddock service is running on ${choice.iface}: there is no admin socket for it in ${choice.runtimeDir} (is paddock dhcp --iface ${choice.iface} running, with this --runtime-dir?)`);
  throw new UserError(`several services run on ${choice.iface} (${onIface.map((x) => x.service).join(", ")}): choose one with --service`);
}

/** The options every socket-using command takes. */
export function addSocketOptions(cmd: Command, what = "the service"): Command {
  return cmd
    .option("--iface <name>", `the interface ${what} runs on (its admin socket is RUNTIME_DIR/SERVICE-IFACE.sock)`)
    .option("--service <name>", "the service on that interface (default: the only one running there)")
    .option("--runtime-dir <dir>", "where the running services keep their admin sockets", DEFAULT_RUNTIME_DIR)
    .option("--socket <path>", "the admin socket itself (instead of --iface)");
}

/** Connects to a service's admin socket; a socket nobody answers on is one sentence. */
export async function connectAdmin(s: AdminSocket): Promise<KvClient> {
  try {
    return await connectKv(s.path);
  } catch (err) {
    const code = err instanceof KvError ? err.message : String(err);
    if (/EACCES|EPERM/.test(code)) throw new UserError(`cannot open the admin socket ${s.path}: permission denied (it is root's, mode 0600)`);
    if (s.service === "?") throw new UserError(`${code}; is \`paddock kv serve\` (or the service) running, and are you root?`);
    throw new UserError(`${s.service} on ${s.iface} is not running: its admin socket ${s.path} does not answer (${code})`);
  }
}

/** A client on a service's socket for the length of `run`. */
export async function withAdmin<T>(s: AdminSocket, run: (c: KvClient) => Promise<T>): Promise<T> {
  const client = await connectAdmin(s);
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

/** Every key and value of a store (as `paddock kv ls` gives them). */
async function readAll(c: KvClient): Promise<Map<string, string>> {
  const keys = await c.list("/");
  const values = await Promise.all(keys.map((k) => c.read(k).then((v) => [k, v] as const, () => undefined)));
  return new Map(values.filter((x): x is readonly [string, string] => x !== undefined));
}

/** One service in `paddock status --json` (docs/operations.md). */
export interface StatusEntry {
  readonly service: string;
  readonly iface: string;
  readonly socket: string;
  readonly running: boolean;
  /** Why it is not running (running false). */
  readonly error?: string;
  readonly pid?: number;
  readonly readiness?: ServiceInfo["readiness"];
  readonly calf?: ServiceInfo["calf"];
  readonly handlers?: ServiceInfo["handlers"];
  /** The service's own fields (its definition's `status`), or null when the CLI does not know the service. */
  readonly status?: Readonly<Record<string, unknown>> | null;
  /** Every key and value, for a service the CLI does not know. */
  readonly keys?: Readonly<Record<string, string>>;
  /** Readable lines (not in --json). */
  readonly lines?: readonly string[];
}

/** Reads one service's status through its socket. */
export async function serviceStatus(s: AdminSocket, now: number = Date.now()): Promise<StatusEntry> {
  let client: KvClient;
  try {
    client = await connectAdmin(s);
  } catch (err) {
    return { service: s.service, iface: s.iface, socket: s.path, running: false, error: (err as Error).message };
  }
  try {
    const [info, values] = await Promise.all([client.info() as Promise<unknown> as Promise<ServiceInfo>, readAll(client)]);
    const def = BUILTIN_SERVICES[s.service];
    const report = def?.status?.(values, now);
    return {
      service: s.service,
      iface: s.iface,
      socket: s.path,
      running: true,
      pid: info.pid,
      readiness: info.readiness ?? null,
      calf: info.calf,
      handlers: info.handlers ?? [],
      status: report ? report.fields : null,
      ...(report ? {} : { keys: Object.fromEntries(values) }),
      lines: report ? [...report.lines] : [...values].map(([k, v]) => `${k} ${escapeControlText(v)}`),
    };
  } finally {
    client.close();
  }
}

/** The readable form of one entry. */
export function formatStatus(e: StatusEntry): string {
  if (!e.running) return `${e.error}\n`;
  const out = [`${e.service} on ${e.iface} (priv pid ${e.pid}, ${e.socket})`];
  for (const l of e.lines ?? []) out.push(`  ${escapeControlText(l)}`);
  for (const h of e.handlers ?? []) {
    const what = h.state === "converged" ? "applied" : h.state === "pending" ? "applying" : `failing: ${h.lastError ?? "?"}`;
    out.push(`  handler ${h.name}: ${escapeControlText(what)}${h.conflicts.length ? ` (left alone: ${escapeControlText(h.conflicts.join("; "))})` : ""}`);
  }
  const c = e.calf;
  if (c) {
    const last = c.lastExit ? `, last exit ${c.lastExit.code ?? "?"} after ${c.lastExit.uptimeSeconds} s` : "";
    out.push(`  calf: ${c.state}, ${c.restarts} restart${c.restarts === 1 ? "" : "s"}${last}`);
  }
  if (e.readiness) out.push(`  ready: ${e.readiness.ready ? "yes" : "no"} (${escapeControlText(e.readiness.status)})`);
  return out.join("\n") + "\n";
}

/** Bumps a /control/NAME counter: each change is one request to the calf. */
async function askService(s: AdminSocket, request: "renew" | "release"): Promise<void> {
  const key = `/control/${request}`;
  await withAdmin(s, async (c) => {
    let n = 0;
    try {
      n = Number(await c.read(key));
    } catch (err) {
      if (err instanceof KvError && err.code === "PADDOCK_E_KV_UNKNOWN_PATH") throw new UserError(`${s.service} on ${s.iface} does not take ${request} requests (its schema has no ${key})`);
      if (!(err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND")) throw err;
    }
    await c.write(key, String(Number.isSafeInteger(n) && n >= 0 && n < 2 ** 53 - 1 ? n + 1 : 1));
  });
}

function checkIface(iface: string): string {
  if (!/^[^\s/]{1,15}$/.test(iface)) throw new UserError(`${JSON.stringify(iface)} is not an interface name (1–15 characters, no '/' or spaces)`);
  return iface;
}

function parseSeconds(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || text.trim() === "") throw new UserError(`${what} must be a number of seconds, not ${JSON.stringify(text)}`);
  return n;
}

interface SocketOpts {
  iface?: string;
  service?: string;
  runtimeDir: string;
  socket?: string;
}

export function registerOperator(program: Command): void {
  program
    .command("status")
    .description("show each running service on an interface (or all): for DHCP the lease, its server and times, the client's state, what is applied, and the calf")
    .argument("[iface]", "only this interface")
    .option("--service <name>", "only this service")
    .option("--runtime-dir <dir>", "where the running services keep their admin sockets", DEFAULT_RUNTIME_DIR)
    .option("--json", "one JSON object (docs/operations.md): {version: 1, services: [...]}")
    .action(async (iface: string | undefined, opts: { service?: string; runtimeDir: string; json?: boolean }) => {
      if (iface !== undefined) checkIface(iface);
      const sockets = listAdminSockets(opts.runtimeDir).filter((s) => (iface === undefined || s.iface === iface) && (opts.service === undefined || s.service === opts.service));
      if (sockets.length === 0) {
        const what = [opts.service ?? "Paddock service", iface ? `on ${iface}` : ""].filter(Boolean).join(" ");
        throw new UserError(`no ${what} is running: there is no admin socket for it in ${opts.runtimeDir}`, EXIT_NOT_RUNNING);
      }
      const entries = await Promise.all(sockets.map((s) => serviceStatus(s)));
      if (opts.json) {
        const services = entries.map(({ lines: _lines, ...e }) => e);
        // Calf-written text (another service's keys) may hold what JSON leaves raw (U+2028, C1).
        // The line feeds are the layout's own: JSON.stringify escaped every one inside a string.
        process.stdout.write(JSON.stringify({ version: 1, services }, null, 2).split("\n").map(escapeJsonControls).join("\n") + "\n");
      } else {
        process.stdout.write(entries.filter((e) => e.running).map(formatStatus).join("\n"));
        for (const e of entries) if (!e.running) process.stderr.write(`paddock: ${e.error}\n`);
      }
      if (entries.some((e) => !e.running)) process.exitCode = EXIT_NOT_RUNNING;
    });

  for (const [request, description] of [
    ["renew", "ask the DHCP client on an interface to renew its lease now (a unicast REQUEST as at T1; without a lease, a new DISCOVER)"],
    ["release", "ask the DHCP client on an interface to release its lease (RELEASE, then its address, routes and DNS are withdrawn); it stays idle until paddock renew or a restart"],
  ] as const) {
    program
      .command(request)
      .description(description)
      .argument("<iface>", "the interface")
      .option("--service <name>", "the service on that interface", DEFAULT_SERVICE)
      .option("--runtime-dir <dir>", "where the running services keep their admin sockets", DEFAULT_RUNTIME_DIR)
      .action(async (iface: string, opts: { service: string; runtimeDir: string }) => {
        const s = findAdminSocket({ iface: checkIface(iface), service: opts.service, runtimeDir: opts.runtimeDir });
        await askService(s, request);
        process.stdout.write(`asked ${s.service} on ${s.iface} to ${request}; paddock status ${s.iface} shows the result\n`);
      });
  }

  program
    .command("wait-online")
    .description("wait until the named (or all running) services are ready — for DHCP: a lease applied — then exit 0; exit 1 on timeout (for network-online.target)")
    .option("--iface <name>", "an interface to wait for (repeatable); default: every service found running", (v: string, acc: string[]) => [...acc, checkIface(v)], [] as string[])
    .option("--timeout <seconds>", "give up after this long (0: wait forever)", "120")
    .option("--runtime-dir <dir>", "where the running services keep their admin sockets", DEFAULT_RUNTIME_DIR)
    .action(async (opts: { iface: string[]; timeout: string; runtimeDir: string }) => {
      const timeoutMs = parseSeconds(opts.timeout, "--timeout") * 1000;
      const result = await waitOnline({ ifaces: opts.iface, runtimeDir: opts.runtimeDir, timeoutMs });
      if (!result.ok) throw new UserError(result.reason);
    });
}

/** How often wait-online looks again (sockets appear, leases get applied). */
const WAIT_POLL_MS = 250;

/**
 * Waits until every service on the named interfaces (or every one found, at least one) that has a
 * readiness says it is ready; services without one (they have no "online" to wait for) count as
 * ready once they answer.
 */
export async function waitOnline(opts: { ifaces: readonly string[]; runtimeDir: string; timeoutMs: number }): Promise<{ ok: true } | { ok: false; reason: string }> {
  const deadline = opts.timeoutMs > 0 ? Date.now() + opts.timeoutMs : Infinity;
  let waiting = "no service has started yet";
  for (;;) {
    const sockets = listAdminSockets(opts.runtimeDir).filter((s) => opts.ifaces.length === 0 || opts.ifaces.includes(s.iface));
    const missing = opts.ifaces.filter((i) => !sockets.some((s) => s.iface === i));
    const notReady: string[] = missing.map((i) => `${i} (no service running)`);
    for (const s of sockets) {
      const info = await withAdmin(s, (c) => c.info() as Promise<unknown> as Promise<ServiceInfo>).catch(() => undefined);
      if (info === undefined) notReady.push(`${s.service} on ${s.iface} (not answering)`);
      else if (info.readiness && !info.readiness.ready) notReady.push(`${s.service} on ${s.iface} (${escapeControlText(info.readiness.status)})`);
    }
    if (sockets.length > 0 && notReady.length === 0) return { ok: true };
    if (notReady.length > 0) waiting = notReady.join(", ");
    if (Date.now() >= deadline) return { ok: false, reason: `not online after ${Math.round(opts.timeoutMs / 1000)} s: waiting for ${waiting}` };
    await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}
