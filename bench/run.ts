/**
 * `make bench`: runs every benchmark in bench/ one after the other, in the foreground (a benchmark
 * in the background of an interactive session is paused with it). Some need root.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = path.join(here, "../node_modules/.bin/tsx");
const benches = ["kv.ts", "dhcp-decode.ts", "netlink.ts", "filter.ts", "dhcp.ts", "ntp.ts", "dhcp6.ts", "ipv6.ts"];
let failed = 0;
for (const b of benches) {
  console.log(`\n### bench/${b}`);
  const r = spawnSync(tsx, [path.join(here, b)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.log(`bench/${b} exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
