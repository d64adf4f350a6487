#!/usr/bin/env node
// The `paddock` command: runs the bundle built by scripts/build.ts (run `make setup` after a change).
// The bundle cannot find the native addon relative to itself; point it at the built one.
import { fileURLToPath } from "node:url";

process.env.PADDOCK_NATIVE_DIR ??= fileURLToPath(new URL("../../../native/build/Release", import.meta.url));
// `paddock dhcp`: start the calf (runc, ~100 ms) before the CLI loads (~50 ms), so they overlap.
if (process.argv[2] === "dhcp") {
  const { startEarly, EARLY_CALF_KEY } = await import("../dist/early.mjs");
  globalThis[EARLY_CALF_KEY] = await startEarly(process.argv.slice(2));
}
await import("../dist/paddock.mjs");
