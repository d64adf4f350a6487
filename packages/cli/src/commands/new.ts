/**
 * `paddock new service NAME [DIR]`: scaffolds a service project outside this repository — a
 * definition (service.ts), a calf (calf.ts), a sans-IO core with its vitest test, package.json,
 * tsconfig.json and a README — from packages/cli/templates/service.
 *
 * Paddock's packages are `file:` links into this installation (their exports point at .ts
 * sources, and their own dependencies are `workspace:` links, so they are not published and
 * cannot come from a registry). vitest, typescript, @types/node and fast-check come from the
 * registry at the versions this repository uses, or with `--link-deps` are linked from this
 * installation's node_modules too (no network at all: what the tests use).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { SERVICE_NAME } from "@paddock/runtime";
import { UserError } from "../errors.ts";
import { installRoot } from "../services.ts";

/** Template files and the names they are written as (the rest keep their names). */
const RENAMED: Readonly<Record<string, string>> = { "package.json.tmpl": "package.json", "tsconfig.json.tmpl": "tsconfig.json", "gitignore.tmpl": ".gitignore" };
/** Paddock's packages a service project uses, by package name → folder in the installation. */
const PADDOCK_PACKAGES: Readonly<Record<string, string>> = { "@paddock/runtime": "packages/runtime", "@paddock/calf": "packages/calf", "@paddock/kv": "packages/kv", "@paddock/cli": "packages/cli" };
/** Tools a service project uses, at the installation's versions. */
const TOOLS = ["vitest", "typescript", "@types/node", "fast-check"] as const;

/** What `scaffoldService` needs. */
export interface ScaffoldOptions {
  readonly name: string;
  readonly dir: string;
  /** Link the tools from this installation's node_modules instead of the registry. */
  readonly linkDeps?: boolean;
  /** The Paddock installation (default the one this CLI belongs to). */
  readonly root?: string;
}

/** The devDependencies of a new project. */
export function devDependencies(root: string, linkDeps: boolean): Record<string, string> {
  const rootPkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const deps: Record<string, string> = {};
  for (const [name, folder] of Object.entries(PADDOCK_PACKAGES)) deps[name] = `file:${path.join(root, folder)}`;
  for (const tool of TOOLS) {
    const version = rootPkg.devDependencies?.[tool];
    if (!version) throw new UserError(`the Paddock installation at ${root} does not list ${tool} in its package.json; cannot choose its version`);
    if (linkDeps) {
      const dir = path.join(root, "node_modules", tool);
      if (!existsSync(dir)) throw new UserError(`--link-deps: ${tool} is not installed in ${root}/node_modules (run make setup there, or leave out --link-deps)`);
      deps[tool] = `file:${realpathSync(dir)}`;
    } else {
      deps[tool] = version;
    }
  }
  return deps;
}

/** Writes the project; returns the files written (relative to `dir`). */
export function scaffoldService(opts: ScaffoldOptions): string[] {
  if (!SERVICE_NAME.test(opts.name)) throw new UserError(`${JSON.stringify(opts.name)} is not a service name: use 1–10 lower-case letters and digits, starting with a letter`);
  if (existsSync(opts.dir) && (!statSync(opts.dir).isDirectory() || readdirSync(opts.dir).length > 0)) throw new UserError(`${opts.dir} already exists and is not an empty directory; choose a new one`);
  const root = opts.root ?? installRoot();
  const templates = path.join(root, "packages/cli/templates/service");
  const deps = devDependencies(root, opts.linkDeps ?? false);
  mkdirSync(opts.dir, { recursive: true });
  const written: string[] = [];
  for (const file of readdirSync(templates).sort()) {
    const text = readFileSync(path.join(templates, file), "utf8")
      .replaceAll("__NAME__", opts.name)
      .replaceAll("__PADDOCK_ROOT__", root)
      .replaceAll("__DEV_DEPENDENCIES__", JSON.stringify(deps, null, 2).replaceAll("\n", "\n  "));
    const out = RENAMED[file] ?? file;
    writeFileSync(path.join(opts.dir, out), text, { mode: 0o644 });
    written.push(out);
  }
  return written;
}

export function registerNew(program: Command): void {
  program
    .command("new")
    .description("scaffold a project: paddock new service NAME [DIR]")
    .command("service")
    .description("a service project (definition, calf, sans-IO core with tests) in DIR (default ./NAME)")
    .argument("<name>", "the service's name: 1–10 lower-case letters and digits, starting with a letter")
    .argument("[dir]", "where to create it (must not exist, or be empty)")
    .option("--link-deps", "link vitest, typescript, @types/node and fast-check from this installation instead of the registry")
    .action((name: string, dir: string | undefined, opts: { linkDeps?: boolean }) => {
      const target = path.resolve(dir ?? name);
      const files = scaffoldService({ name, dir: target, linkDeps: opts.linkDeps === true });
      const shown = path.relative(process.cwd(), target) || ".";
      process.stdout.write(
        `created the service ${name} in ${target}: ${files.join(", ")}\n` +
          `next:\n  cd ${shown}\n  npm install    # as the owner of ${installRoot()} (npm marks its CLI executable; README.md)\n  npx vitest run && npx tsc --noEmit\n  npx paddock build ./service.ts --out build    # as a user, not root\n` +
          `  sudo node_modules/.bin/paddock run ./service.ts --iface IF --set peer=ADDRESS\n`,
      );
    });
}
