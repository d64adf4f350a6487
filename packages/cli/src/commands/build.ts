/**
 * `paddock build SERVICE.ts --out DIR`: the unprivileged build of a service — its definition
 * bundled into DIR/service.mjs (with `@paddock/runtime` left to the CLI that loads it) and its
 * calf bundled into DIR/calf.mjs (one self-contained module, no runtime or native code). Run it
 * as a user; `paddock run SERVICE.ts` runs it for you, as `nobody`, when started as root.
 */
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { bundleCalf } from "@paddock/bundler";
import { UserError } from "../errors.ts";
import { BUILT_CALF_FILE, BUILT_SERVICE_FILE, importBuiltService, PROVIDED_PACKAGES, RUNTIME_GLOBAL } from "../services.ts";

/** Every line of esbuild's messages, with file:line:column, as esbuild prints them. */
export function esbuildMessages(err: unknown): string {
  const e = err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number; lineText: string } | null }> };
  if (!Array.isArray(e?.errors) || e.errors.length === 0) return (err as Error)?.message ?? String(err);
  return e.errors
    .map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}\n    ${m.location.lineText}` : m.text))
    .join("\n");
}

/** Bundles the service module and its calf into `out`. Throws UserError with esbuild's whole message. */
export async function buildService(source: string, out: string): Promise<{ service: string; calf: string }> {
  const esbuild = await import("esbuild");
  mkdirSync(out, { recursive: true });
  const serviceFile = path.join(out, BUILT_SERVICE_FILE);
  try {
    await esbuild.build({
      entryPoints: [source],
      outfile: serviceFile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      logLevel: "silent",
      sourcemap: "inline",
      plugins: [
        {
          name: "paddock-provided",
          setup(b) {
            b.onResolve({ filter: /^@paddock\/(runtime|kv)$/ }, (args) => ({ path: args.path, namespace: "paddock-provided" }));
            b.onLoad({ filter: /.*/, namespace: "paddock-provided" }, (args) => {
              const names = Object.keys(PROVIDED_PACKAGES[args.path] ?? {}).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
              return {
                contents: [
                  `const all = globalThis[Symbol.for(${JSON.stringify(RUNTIME_GLOBAL.description)})];`,
                  `if (!all) throw new Error("this service module runs inside paddock (paddock run), which provides ${args.path}");`,
                  `const r = all[${JSON.stringify(args.path)}];`,
                  ...names.map((n) => `export const ${n} = r.${n};`),
                ].join("\n"),
                loader: "js",
              };
            });
          },
        },
      ],
    });
  } catch (err) {
    throw new UserError(`cannot build the service ${source}:\n${esbuildMessages(err)}`);
  }
  chmodSync(serviceFile, 0o644);
  const loaded = await importBuiltService(out, source);
  const entry = path.resolve(path.dirname(source), loaded.definition.calf.entry);
  const calfFile = path.join(out, BUILT_CALF_FILE);
  try {
    await bundleCalf(entry, calfFile);
  } catch (err) {
    const cause = (err as Error).cause;
    throw new UserError(`cannot build the calf ${entry} of ${loaded.definition.name}: ${(err as Error).message}${cause ? `:\n${esbuildMessages(cause)}` : ""}`);
  }
  return { service: serviceFile, calf: calfFile };
}

export function registerBuild(program: Command): void {
  program
    .command("build")
    .description("bundle a service module and its calf (unprivileged): DIR/service.mjs and DIR/calf.mjs, for paddock run DIR")
    .argument("<service>", "the service module (e.g. ./service.ts)")
    .requiredOption("--out <dir>", "where to write the bundles")
    .action(async (source: string, opts: { out: string }) => {
      if (process.getuid?.() === 0 && process.env.PADDOCK_BUILD_AS_ROOT !== "1") {
        throw new UserError("paddock build runs esbuild and the code it bundles: run it as an unprivileged user (paddock run does that for you)");
      }
      const built = await buildService(path.resolve(source), path.resolve(opts.out));
      process.stdout.write(`${built.service}\n${built.calf}\n`);
    });
}
