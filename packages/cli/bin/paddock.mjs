#!/usr/bin/env node
// The `paddock` command: runs the bundle built by scripts/build.ts (run `make setup` after a change).
// The bundle cannot find the native addon relative to itself; point it at the built one.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

// Start-up phases before the logger exists (packages/runtime/src/start-phases.ts keeps them on
// this global; the serving commands log them at debug level): here, how long Node took to run us.
const phases = (globalThis.__paddockStartPhases ??= []);
phases.push(["node started", performance.now()]);

process.env.PADDOCK_NATIVE_DIR ??= fileURLToPath(new URL("../../../native/build/Release", import.meta.url));
// First of all: SIGUSR1 must not open Node's inspector (127.0.0.1:9229, code run as root; Node 20
// has no --disable-sigusr1 and a JS listener does not stop it). Without the addon nothing here
// could be a priv, and the command that needs it says so.
try {
  createRequire(import.meta.url)(`${process.env.PADDOCK_NATIVE_DIR}/paddock_native.node`).ignoreDebugSignal();
} catch {}
phases.push(["native addon loaded", performance.now()]);
// `paddock dhcp` (and ntp, ra, dhcp6, run of one built-in service: EARLY_COMMANDS in
// early-entry.ts): start the calf (runc, ~100 ms) before the CLI loads (~50 ms), so they overlap.
// Awaited until runc is spawned: the CLI's module evaluation holds this thread, so an early start
// left pending would spawn runc only after it (measured: the calf's container created ~700 ms
// later under load, after the stores were open; docs/decisions/0014-priv-start-up.md).
if (["dhcp", "ntp", "ra", "dhcp6", "run"].includes(process.argv[2])) {
  const { startEarly, EARLY_CALF_KEY } = await import("../dist/early.mjs");
  phases.push(["early start loaded", performance.now()]);
  globalThis[EARLY_CALF_KEY] = await startEarly(process.argv.slice(2));
}
// No optimizing compiler for the priv: its code is glue that runs a few times per event, and the
// optimizing tiers' own code and data were 3.5 MiB of its peak (docs/decisions/0014-priv-start-up.md).
// Baseline code (Sparkplug) stays. Set here, after the early calf start and before the CLI loads:
// a changed V8 flag makes V8 refuse Node's code cache for the built-in modules loaded after it
// (twice the CPU to load them), so the early start's come first and spawn the calf sooner; the
// optimizing tiers run during the CLI's load, so later would be too late. sea-entry.ts does the same.
setFlagsFromString("--max-opt=1");
await import("../dist/paddock.mjs");
phases.push(["CLI loaded", performance.now()]);
