/**
 * How a calf's code is bundled for QuickJS instead of Node (bundleCalf with `engine: "quickjs"`):
 * the same entry and the same SDK, with
 *
 * - the SDK's default host (packages/calf/src/default-host.ts) replaced by the QuickJS host
 *   (packages/calf/src/engine/quickjs-host.ts), and its globals module evaluated first;
 * - "quickjs:os" and "quickjs:paddock-host" left as imports of the engine's own modules;
 * - every Node built-in replaced by an empty module: only the Node host imports them (a test keeps
 *   it so), and it is never called on QuickJS. A use would fail at once, not quietly.
 */
import { builtinModules, createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";

/** The calf SDK's source folder, found like the debug stub (bundled CLI, or beside this file). */
function calfSourceDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve("@paddock/calf"));
  } catch {
    return fileURLToPath(new URL("../../calf/src/", import.meta.url));
  }
}

/** The module evaluated before any other of a QuickJS calf: TextEncoder, AbortController, timers… */
export function quickjsGlobalsModule(): string {
  return path.join(calfSourceDir(), "engine", "quickjs-globals.ts");
}

/** The engine's modules a QuickJS calf may import, under the "quickjs:" prefix (quickjs-modules.d.ts). */
export const QUICKJS_ENGINE_MODULES = ["os", "paddock-host"] as const;

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const NODE_BUILTIN = new RegExp(`^(node:.*|(${builtinModules.map(escape).join("|")})(/.*)?)$`);

/** The esbuild plugin of a QuickJS build (see the module comment). */
export function quickjsPlugin(): Plugin {
  const sdk = calfSourceDir();
  const defaultHost = path.join(sdk, "default-host.ts");
  const quickjsHost = path.join(sdk, "engine", "quickjs-host.ts");
  return {
    name: "paddock-quickjs",
    setup(build) {
      build.onResolve({ filter: /^quickjs:/ }, (args) => {
        const name = args.path.slice("quickjs:".length);
        if (!(QUICKJS_ENGINE_MODULES as readonly string[]).includes(name)) return { errors: [{ text: `QuickJS calves have no module ${JSON.stringify(name)} (only ${QUICKJS_ENGINE_MODULES.join(", ")})` }] };
        return { path: name, external: true };
      });
      build.onResolve({ filter: /(^|\/)default-host(\.ts)?$/ }, (args) => {
        const resolved = path.resolve(args.resolveDir, args.path.endsWith(".ts") ? args.path : `${args.path}.ts`);
        return resolved === defaultHost ? { path: quickjsHost } : undefined;
      });
      build.onResolve({ filter: NODE_BUILTIN }, (args) => ({ path: args.path, namespace: "paddock-no-node" }));
      build.onLoad({ filter: /.*/, namespace: "paddock-no-node" }, () => ({ contents: "module.exports = {};", loader: "js" }));
    },
  };
}
