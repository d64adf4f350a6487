#!/usr/bin/env node
// The `paddock` command: runs the bundle built by scripts/build.mjs (built by scripts/build.ts; run `make setup` after a change).
// The bundle cannot find the native addon relative to itself; point it at the built one.
import { fileURLToPath } from "node:url";

process.env.PADDOCK_NATIVE_DIR ??= fileURLToPath(new URL("../../../native/build/Release", import.meta.url));
await import("../dist/paddock.mjs");
