#!/usr/bin/env node
// The `paddock` command: runs the bundle built by scripts/build.mjs (run `make setup` after a change).
import "../dist/paddock.mjs";
