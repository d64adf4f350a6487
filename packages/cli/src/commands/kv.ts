/**
 * `paddock kv …`: run a standalone store, and read, change, watch and audit one through its
 * admin socket.
 *
 * Values are printed with control characters and Unicode line terminators escaped ("\x1b",
 * "\u2028"; escapeControlText), audit lines with the ones JSON may leave raw written as \u escapes
 * (escapeJsonControls; they stay valid JSON lines). So a value a calf wrote can neither forge an
 * output line nor reach the terminal as an escape sequence. A value that passed its schema's
 * validator normally has none and prints as stored; the backslash is not escaped, so a script
 * reading `kv get` sees such a value byte for byte.
 */
import { accessSync, constants, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { connectKv, KvClient, KvError, KvServer, KvStore, parseKvPath, type ServiceSchema } from "@paddock/kv";
import { escapeControlText, escapeJsonControls } from "@paddock/runtime";
import { BUILTIN_SERVICES, loadService } from "../services.ts";
import { addSocketOptions, findAdminSocket, withAdmin } from "./operator.ts";
import type { Command } from "commander";
import pino from "pino";
import { UserError } from "../errors.ts";

function checkStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UserError(`cannot create the state directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!statSync(dir).isDirectory()) throw new UserError(`the state directory ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`the state directory ${dir} is not writable`);
  }
}

function checkSocketDir(socketPath: string, what: string): void {
  const dir = path.dirname(path.resolve(socketPath));
  if (!existsSync(dir)) throw new UserError(`the directory for the ${what} ${socketPath} does not exist`);
  if (Buffer.byteLength(path.resolve(socketPath)) > 107) throw new UserError(`the ${what} path ${socketPath} is longer than a Unix socket path may be (107 bytes)`);
}

function checkPath(text: string): string {
  const p = parseKvPath(text);
  if (!p.ok) throw new UserError(`${JSON.stringify(text)} is not a store path: ${p.reason}`);
  return p.path;
}

/** The socket the client commands talk to: --socket, or the running service's by --iface/--service (./operator.ts). */
interface ClientOpts {
  socket?: string;
  iface?: string;
  service?: string;
  runtimeDir: string;
}

function withClient<T>(opts: ClientOpts, run: (c: KvClient) => Promise<T>): Promise<T> {
  return withAdmin(findAdminSocket(opts), run);
}

export function registerKv(program: Command): void {
  const kv = program.command("kv").description("run a standalone KV store, or read and change one through its admin socket");

  kv.command("serve")
    .description("run a standalone store: calf rights on --socket, operator rights on --admin-socket (mode 0600)")
    .option("--service <service>", `the service whose schema the store serves: a built-in (${Object.keys(BUILTIN_SERVICES).join(", ")}) or a service module`)
    .option("--schema <name>", "the same as --service, for a built-in service (kept for scripts that use it)")
    .requiredOption("--socket <path>", "Unix socket for calf connections")
    .requiredOption("--admin-socket <path>", "Unix socket for operators (created mode 0600)")
    .requiredOption("--state-dir <dir>", "where the store file and the audit log are kept")
    .option("--log-level <level>", "debug, info, warn or error", "info")
    .action(async (opts: { service?: string; schema?: string; socket: string; adminSocket: string; stateDir: string; logLevel: string }) => {
      const spec = opts.service ?? opts.schema;
      if (!spec) throw new UserError(`--service is required: a built-in service (${Object.keys(BUILTIN_SERVICES).join(", ")}) or a service module`);
      if (opts.schema && !BUILTIN_SERVICES[opts.schema]) throw new UserError(`there is no built-in service named ${JSON.stringify(opts.schema)}; known: ${Object.keys(BUILTIN_SERVICES).join(", ")} (use --service for a module)`);
      const loaded = await loadService(spec);
      const def = loaded.definition;
      loaded.cleanup();
      const schema: ServiceSchema = { name: def.name, description: def.description, entries: def.schema.entries, maxTotalBytes: def.schema.maxTotalBytes };
      if (!["debug", "info", "warn", "error"].includes(opts.logLevel)) throw new UserError(`--log-level must be debug, info, warn or error, not ${JSON.stringify(opts.logLevel)}`);
      checkStateDir(opts.stateDir);
      checkSocketDir(opts.socket, "calf socket");
      checkSocketDir(opts.adminSocket, "admin socket");
      const log = pino({ level: opts.logLevel, base: { component: "kv" } });
      let store: KvStore;
      try {
        store = new KvStore({ schema, stateDir: opts.stateDir, log });
      } catch (err) {
        throw new UserError(`cannot open the store in ${opts.stateDir}: ${(err as Error).message}`);
      }
      const server = new KvServer(store, log);
      try {
        await server.listen(opts.socket, "calf", `calf:${schema.name}`);
        await server.listen(opts.adminSocket, "admin", "admin");
      } catch (err) {
        await server.close();
        throw new UserError(`cannot listen: ${(err as Error).message}`);
      }
      log.info({ schema: schema.name, socket: opts.socket, adminSocket: opts.adminSocket, stateDir: opts.stateDir, keys: store.values.size }, "store ready");
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, "stopping");
          resolve();
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
      await store.close();
      for (const s of [opts.socket, opts.adminSocket]) rmSync(s, { force: true });
      log.info({}, "stopped");
      log.flush?.();
    });

  addSocketOptions(kv.command("get")
    .description("print a key's value (control characters escaped, e.g. \\x1b)")
    .argument("<path>", "e.g. /ip"))
    .action(async (p: string, opts: ClientOpts) => {
      const key = checkPath(p);
      const value = await withClient(opts, (c) => c.read(key));
      process.stdout.write(escapeControlText(value) + "\n");
    });

  addSocketOptions(kv.command("put")
    .description("write a key (validated by the schema, audited)")
    .argument("<path>", "e.g. /ip")
    .argument("<value>", "the value in its canonical text form, e.g. 10.0.0.5/24"))
    .action(async (p: string, value: string, opts: ClientOpts) => {
      const key = checkPath(p);
      await withClient(opts, (c) => c.write(key, value));
    });

  addSocketOptions(kv.command("del")
    .description("delete a key")
    .argument("<path>"))
    .action(async (p: string, opts: ClientOpts) => {
      const key = checkPath(p);
      await withClient(opts, (c) => c.delete(key));
    });

  addSocketOptions(kv.command("ls")
    .description("list keys (with their values) at or under a path")
    .argument("[path]", "a prefix", "/")
    .option("--keys-only", "print only the keys"))
    .action(async (p: string, opts: ClientOpts & { keysOnly?: boolean }) => {
      const prefix = checkPath(p);
      await withClient(opts, async (c) => {
        for (const key of await c.list(prefix)) {
          if (opts.keysOnly) process.stdout.write(`${key}\n`);
          else process.stdout.write(`${key} ${await c.read(key).then(escapeControlText, (e: KvError) => `<${e.code}>`)}\n`);
        }
      });
    });

  addSocketOptions(kv.command("watch")
    .description("print each change at or under a path as it is committed, until interrupted")
    .argument("[path]", "a prefix", "/"))
    .action(async (p: string, opts: ClientOpts) => {
      const prefix = checkPath(p);
      await withClient(opts, async (c) => {
        await c.watch(prefix, (e) => process.stdout.write(e.value === null ? `${e.seq} del ${e.path}\n` : `${e.seq} put ${e.path} ${escapeControlText(e.value)}\n`));
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
          c.onClose(() => resolve());
        });
      });
    });

  addSocketOptions(kv.command("audit")
    .description("print the audit log (JSON lines: every write and delete attempt, accepted or refused)")
    .option("-n, --lines <n>", "only the last N lines", "0"))
    .action(async (opts: ClientOpts & { lines: string }) => {
      const n = Number(opts.lines);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--lines must be a whole number, not ${JSON.stringify(opts.lines)}`);
      const lines = await withClient(opts, (c) => c.audit(n));
      for (const l of lines) process.stdout.write(escapeJsonControls(l) + "\n");
    });
}
