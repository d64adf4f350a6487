#!/usr/bin/env node
// The `paddock` command: runs the bundle built by scripts/build.ts (run `make setup` after a change).
// The bundle cannot find the native addon relative to itself; point it at the built one.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

// No optimizing compiler for the priv: its code is glue that runs a few times per event, and the
// optimizing tiers' own code and data were 3.4 MiB of its 61 MiB peak (docs/performance.md,
// "Priv start-up"). Baseline code (Sparkplug) stays. The packed entry (sea-entry.ts) does the same.
setFlagsFromString("--max-opt=1");

process.env.PADDOCK_NATIVE_DIR ??= fileURLToPath(new URL("../../../native/build/Release", import.meta.url));
// First of all: SIGUSR1 must not open Node's inspector (127.0.0.1:9229, code run as root; Node 20
// has no --disable-sigusr1 and a JS listener does not stop it). Without the addon nothing here
// could be a priv, and the command that needs it says so.
try {
  createRequire(import.meta.url)(`${process.env.PADDOCK_NATIVE_DIR}/paddock_native.node`).ignoreDebugSignal();
} catch {}
// `paddock dhcp` (and ntp, ra, dhcp6, run of one built-in service: EARLY_COMMANDS in
// early-entry.ts): start the calf (runc, ~100 ms) while the CLI loads (~50 ms), so they overlap.
// Not awaited: its runc calls and files proceed while the CLI's modules load; the command takes
// the promise (takeEarlyCalf).
if (["dhcp", "ntp", "ra", "dhcp6", "run"].includes(process.argv[2])) {
  const { startEarly, EARLY_CALF_KEY } = await import("../dist/early.mjs");
  globalThis[EARLY_CALF_KEY] = startEarly(process.argv.slice(2));
}
await import("../dist/paddock.mjs");
