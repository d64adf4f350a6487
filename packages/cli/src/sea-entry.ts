/**
 * The main script of the packed single executable (`paddock pack`, docs/pack.md): Node with this
 * file's CommonJS bundle injected, installed as /usr/lib/paddock/paddock (/usr/sbin/paddock links
 * to it). Everything else it needs lies beside it:
 *
 *   /usr/lib/paddock/native/   the Node-API addon and the eBPF objects (a .node cannot be loaded
 *                              from inside the blob: dlopen needs a file)
 *   /usr/lib/paddock/calves/   the calf bundles (runc bind-mounts each one read-only)
 *   /usr/lib/paddock/bin/runc  the container runtime, found first on PATH
 *
 * Two modes. `paddock --paddock-calf SCRIPT` (what the runtime's calf bundles run, see
 * packages/runtime/src/sandbox/packed.ts) imports the calf's bundle and nothing of the CLI;
 * anything else is the CLI, with the early calf start first for the commands that run one built-in
 * service's calf (EARLY_COMMANDS in early-entry.ts), as bin/paddock.mjs does.
 * The CLI and the early start are imported lazily, so calf mode never runs their code.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { PACKED_CALF_ARG } from "../../runtime/src/sandbox/packed.ts";
import { markStartPhase } from "../../runtime/src/start-phases.ts";

/** PATH when the priv is started with none (`env -i`, some init systems): the usual system dirs. */
const DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

async function packedMain(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === PACKED_CALF_ARG && args.length === 2) {
    // A Node calf in calf mode: no optimizing compiler, as before its script loads.
    setFlagsFromString("--max-opt=1");
    await import(pathToFileURL(args[1]!).href);
    return;
  }
  // process.execPath is the binary's real path, so a symlink (/usr/sbin/paddock) finds the tree.
  const lib = path.dirname(process.execPath);
  markStartPhase("node started");
  process.env.PADDOCK_NATIVE_DIR ??= path.join(lib, "native");
  process.env.PADDOCK_CALF_DIR ??= path.join(lib, "calves");
  // As bin/paddock.mjs does, first of all: SIGUSR1 must not open Node's inspector (code run as
  // root). Without the addon nothing here could be a priv, and the command that needs it says so.
  try {
    (createRequire(process.execPath)(path.join(process.env.PADDOCK_NATIVE_DIR, "paddock_native.node")) as { ignoreDebugSignal(): void }).ignoreDebugSignal();
  } catch {
    // not a priv: the command that needs the addon reports it
  }
  markStartPhase("native addon loaded");
  process.env.PATH = `${path.join(lib, "bin")}:${process.env.PATH || DEFAULT_PATH}`;
  if (["dhcp", "ntp", "ra", "dhcp6", "run"].includes(args[0] ?? "")) {
    const { startEarly, EARLY_CALF_KEY } = await import("./early-entry.ts");
    // Awaited until runc is spawned, as in bin/paddock.mjs (why there).
    (globalThis as Record<string, unknown>)[EARLY_CALF_KEY] = await startEarly(args);
  }
  // As bin/paddock.mjs does, after the early start and before the CLI: no optimizing compiler
  // (why there, and why not sooner).
  setFlagsFromString("--max-opt=1");
  await import("./main.ts");
  markStartPhase("CLI loaded");
}

void packedMain();
