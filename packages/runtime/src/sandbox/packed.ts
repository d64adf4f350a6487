/**
 * The calf's Node when the priv is the packed single executable (`paddock pack`, docs/pack.md).
 *
 * A packed Paddock ships one Node binary: /usr/lib/paddock/paddock, Node with the CLI injected as
 * a single-executable-application blob. Its calves run that same binary (one copy of Node on disk
 * and in the page cache) in calf mode: `paddock --paddock-calf /calf/main.mjs` imports the calf's
 * bundle and nothing of the CLI. Such a binary reads no Node options from its command line (they
 * reach the injected script as arguments), only from NODE_OPTIONS, so the V8 flags a calf must run
 * with (`--jitless`, the heap limit) move there: the calf's environment then holds NODE_OPTIONS
 * and HOME, and nothing else.
 */
import { createRequire } from "node:module";

/** The argument that puts the packed executable in calf mode (never a CLI command or option). */
export const PACKED_CALF_ARG = "--paddock-calf";

/** Whether this process is a Node single executable application (node:sea exists from Node 20.12). */
export function runningPacked(): boolean {
  try {
    const sea = createRequire(import.meta.url)("node:sea") as { isSea(): boolean };
    return sea.isSea();
  } catch {
    return false;
  }
}

/** The Node binary calves run by default: this very executable when packed, else Debian's node. */
export function defaultCalfNodePath(nodePath: string): string {
  return runningPacked() ? process.execPath : nodePath;
}

/** Calf Node options that NODE_OPTIONS may not hold. */
const NOT_IN_NODE_OPTIONS = new Set(["--no-expose-wasm"]);

/** A calf's command line and environment, as they go into its OCI config. */
export interface CalfCommand {
  readonly args: readonly string[];
  readonly env: readonly string[];
}

/**
 * The calf's command for `runtime`: unchanged for a plain Node; for a packed executable (one
 * marked `packed`, as paddock pack does for the bundles it generates, or this process's own binary
 * when it is packed), `BINARY --paddock-calf SCRIPT` with the Node options of `node` (every
 * argument between the binary and the script) in NODE_OPTIONS.
 */
export function calfCommandFor(runtime: { readonly binary: string; readonly packed?: boolean }, node: CalfCommand): CalfCommand {
  const packed = runtime.packed === true || (runtime.binary === process.execPath && runningPacked());
  if (!packed) return node;
  const script = node.args[node.args.length - 1]!;
  // Node refuses --no-expose-wasm in NODE_OPTIONS (it ends the process): a packed calf goes without
  // it, and Node's warning about --jitless disabling --expose_wasm stays on its log.
  const options = node.args.slice(1, -1).filter((o) => !NOT_IN_NODE_OPTIONS.has(o));
  return { args: [runtime.binary, PACKED_CALF_ARG, script], env: [...node.env, `NODE_OPTIONS=${options.join(" ")}`] };
}
