/**
 * Finding a service by what the user typed: a built-in name (`dhcp4`) or a path to a user's
 * service module. A module's source is bundled by `paddock build`, an unprivileged step: when the
 * CLI runs as root it hands the build to a child process running as `nobody`, so the priv never
 * runs esbuild (or anything the build would run) with privilege.
 *
 * A built service is a directory with service.mjs (the definition; `@paddock/runtime` inside it is
 * this CLI's own instance, so a definition holds no copy of the runtime) and calf.mjs.
 */
import { spawn } from "node:child_process";
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as kv from "@paddock/kv";
import * as runtime from "@paddock/runtime";
import { builtinCalfWithFallback, calfFileName, CALF_ENGINES, DEFAULT_CALF_ENGINE, isCalfEngine, isServiceDefinition, orList, runningPacked, type CalfEngine, type ServiceDefinition } from "@paddock/runtime";
import { dhcp4Service } from "@paddock/service-dhcp4";
import { ntpService } from "@paddock/service-ntp";
import { raService } from "@paddock/service-ra";
import { dhcp6Service } from "@paddock/service-dhcp6";
import { UserError } from "./errors.ts";

/** The services `paddock run NAME` knows without a path. */
export const BUILTIN_SERVICES: Readonly<Record<string, ServiceDefinition<any>>> = { dhcp4: dhcp4Service, ntp: ntpService, ra: raService, dhcp6: dhcp6Service };

/** Where a built service module finds the CLI's own instances of the packages below. */
export const RUNTIME_GLOBAL = Symbol.for("paddock.runtime");

/**
 * The packages a service module gets from the CLI that loads it rather than bundling a copy: one
 * runtime and one store implementation in the priv, and no copy of their dependencies (capnp-ts,
 * pino) inside each service bundle.
 */
export const PROVIDED_PACKAGES: Readonly<Record<string, Record<string, unknown>>> = { "@paddock/runtime": runtime, "@paddock/kv": kv };

/** The files of a built service. */
export const BUILT_SERVICE_FILE = "service.mjs";
export const BUILT_CALF_FILE = "calf.mjs";

/** The uid/gid the unprivileged build runs as (Debian's nobody/nogroup). */
const NOBODY = 65534;

/** The repository (or installed tree) root: where packages/ and native/ are. */
export function installRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "pnpm-workspace.yaml"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new UserError("cannot find Paddock's installation (no pnpm-workspace.yaml above the CLI)");
    dir = up;
  }
  return dir;
}

/** The folder of a built-in service's calves (both engines'): PADDOCK_CALF_DIR, for image builders, or its dist. */
export function builtinCalfDir(service: string): string {
  return process.env.PADDOCK_CALF_DIR ?? path.join(installRoot(), `packages/services/${service}/calf/dist`);
}

/** A built-in service's calf: its bundle for Node, its static executable for QuickJS (both built by make setup). */
export function builtinCalfScript(service: string, engine: CalfEngine = DEFAULT_CALF_ENGINE): string {
  return path.join(builtinCalfDir(service), calfFileName(service, engine));
}

/** What `--calf-engine` says, for commander: `node` or `quickjs`. */
export const CALF_ENGINE_HELP = `the JavaScript engine of the calves: ${orList(CALF_ENGINES)} (default: the service's own: quickjs for the built-in services, a static executable of a few MiB, or node where it is not built, with a warning; node for a service of yours; docs/decisions/0010-quickjs-calf-engine.md)`;

/** Parses `--calf-engine`. */
export function parseCalfEngine(value: string): CalfEngine {
  if (!isCalfEngine(value)) throw new UserError(`--calf-engine must be ${orList(CALF_ENGINES)}, not ${JSON.stringify(value)}`);
  return value;
}

/** A calf engine that cannot run the service's calf, with its stable code. */
export class CalfEngineError extends UserError {
  readonly code = "PADDOCK_E_CALF_ENGINE_UNAVAILABLE";
}

/** The calf a service runs: its file, its engine, and a warning when it is not the engine its definition names. */
export interface CalfOnEngine {
  readonly calfScript: string;
  readonly calfEngine: CalfEngine;
  readonly warning?: string;
}

/**
 * The calf a loaded service runs, on the engine the operator chose (`override`) or its definition
 * names. A service built by `paddock build` has a Node calf only, so it runs on QuickJS only if it
 * is a built-in service, whose QuickJS calf make setup builds. A built-in service whose QuickJS
 * executable is missing runs its Node calf, with a warning, unless the operator asked for QuickJS.
 */
export function calfOnEngine(loaded: LoadedService, override: CalfEngine | undefined): CalfOnEngine {
  const engine = override ?? loaded.definition.calf.engine ?? DEFAULT_CALF_ENGINE;
  if (engine === "node") return { calfScript: loaded.calfScript, calfEngine: engine };
  const name = loaded.definition.name;
  if (BUILTIN_SERVICES[name] !== loaded.definition) {
    throw new CalfEngineError(`${loaded.source} has no QuickJS calf: only the built-in services' calves are built for QuickJS so far; run it with --calf-engine node`);
  }
  const calf = builtinCalfWithFallback(name, builtinCalfDir(name), engine);
  if (calf.quickjsMissing === undefined) return { calfScript: calf.file, calfEngine: calf.engine };
  if (override !== undefined) {
    throw new CalfEngineError(`there is no QuickJS calf of ${name} (${calf.quickjsMissing}): make setup builds QuickJS and the calves that run on it, and did not here; run it with --calf-engine node`);
  }
  return {
    calfScript: loaded.calfScript,
    calfEngine: "node",
    warning: `the calf of ${name} runs on Node (~45 MiB instead of ~4): its QuickJS executable ${calf.quickjsMissing} is missing; make setup builds it (with gcc and the npm registry; its output says why it could not), and --calf-engine node chooses Node without this warning`,
  };
}

/** A service ready to run: its definition and its calf's bundle. */
export interface LoadedService {
  readonly definition: ServiceDefinition<any>;
  readonly calfScript: string;
  /** Where it came from, for messages. */
  readonly source: string;
}

/** Makes this CLI's packages the ones built service modules use. */
export function provideRuntime(): void {
  (globalThis as Record<symbol, unknown>)[RUNTIME_GLOBAL] = PROVIDED_PACKAGES;
}

/** Imports a built service directory's definition. */
export async function importBuiltService(dir: string, source: string): Promise<LoadedService> {
  provideRuntime();
  const file = path.join(dir, BUILT_SERVICE_FILE);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof runtime.ServiceDefinitionError) throw new UserError(err.message);
    throw new UserError(`cannot load the service ${source}: ${(err as Error).message}`);
  }
  const definition = mod.default ?? Object.values(mod).find(isServiceDefinition);
  if (!isServiceDefinition(definition)) throw new UserError(`${source} exports no service definition (export default defineService({ … }))`);
  return { definition, calfScript: path.join(dir, BUILT_CALF_FILE), source };
}

/** Whether the uid `nobody` can read `file` and search every directory above it. */
function readableByNobody(file: string): boolean {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) break;
  }
  return (statSync(file).mode & 0o004) !== 0;
}

/** Runs `paddock build SOURCE --out DIR` as nobody; resolves with the directory. */
async function buildUnprivileged(source: string): Promise<string> {
  const cli = process.argv[1];
  if (!cli) throw new UserError("cannot find the paddock command to run the build with");
  for (const f of [source, cli]) {
    if (!readableByNobody(f)) {
      throw new UserError(`${f} is not readable by an unprivileged user, and the priv builds services only unprivileged: build it first as a user with \`paddock build ${source} --out DIR\` and run DIR, or make it readable`);
    }
  }
  const out = mkdtempSync(path.join(tmpdir(), "paddock-build-"));
  chownSync(out, NOBODY, NOBODY);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "build", source, "--out", out], { uid: NOBODY, gid: NOBODY, stdio: ["ignore", "ignore", "inherit"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: out } });
    child.once("error", reject);
    child.once("exit", (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new UserError(`building ${source} failed (the build's own message is above)`);
  }
  return out;
}

/**
 * Resolves what the user typed: a built-in name, a built directory (holding service.mjs), or a
 * service module's source (built first, unprivileged when we are root). `cleanup` removes a
 * build made here.
 */
export async function loadService(spec: string): Promise<LoadedService & { cleanup(): void }> {
  const builtin = BUILTIN_SERVICES[spec];
  if (builtin) return { definition: builtin, calfScript: builtinCalfScript(spec), source: spec, cleanup() {} };
  if (!existsSync(spec)) {
    throw new UserError(`there is no service ${JSON.stringify(spec)}: not a built-in (${Object.keys(BUILTIN_SERVICES).join(", ")}) and no such file or directory`);
  }
  if (statSync(spec).isDirectory()) {
    if (!existsSync(path.join(spec, BUILT_SERVICE_FILE))) throw new UserError(`${spec} is a directory without ${BUILT_SERVICE_FILE}; give the service module (service.ts) or the output of paddock build`);
    return { ...(await importBuiltService(path.resolve(spec), spec)), cleanup() {} };
  }
  // A packed Paddock (paddock pack) has neither esbuild nor a CLI script to run a build with.
  if (runningPacked()) throw new UserError(`${spec} is a service's source, and a packed Paddock runs built services only: build it in a checkout with paddock build ${spec} --out DIR and run DIR`);
  const source = path.resolve(spec);
  let dir: string;
  if (process.getuid?.() === 0) {
    dir = await buildUnprivileged(source);
  } else {
    const { buildService } = await import("./commands/build.ts");
    dir = mkdtempSync(path.join(tmpdir(), "paddock-build-"));
    await buildService(source, dir);
  }
  const loaded = await importBuiltService(dir, spec);
  // Root reads the build's output; the files stay where nobody wrote them until we are done.
  accessSync(loaded.calfScript, constants.R_OK);
  return { ...loaded, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The version line of the installed Paddock, for messages and the scaffolder. */
export function paddockVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(installRoot(), "packages/runtime/package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}
