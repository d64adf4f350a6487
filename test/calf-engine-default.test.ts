/**
 * QuickJS, the built-in services' default calf engine (issue 14 items 1 and 5,
 * docs/decisions/0010-quickjs-calf-engine.md), and its fallback, with `paddock dhcp` against
 * dnsmasq in labs prefixed `pe6`:
 *
 * - without `--calf-engine` the DHCP calf is the QuickJS executable, started before the CLI loaded
 *   and adopted by the host, and no warning is logged;
 * - where that executable is missing (PADDOCK_CALF_DIR at a folder holding the Node bundle only,
 *   as an installation whose setup could not build QuickJS) the same command runs the Node calf,
 *   also started early and adopted, and logs one warning line saying why and how to fix it;
 * - there, `--calf-engine quickjs` is refused in one sentence before anything starts.
 *
 * Needs root (namespaces, runc), dnsmasq and the QuickJS build (make setup). Skipped with a reason
 * otherwise, never under CI=true.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { defaultOffer, haveAll, NetLab, type ShimProc } from "./helpers/lab.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CALF_DIST = path.join(repoRoot, "packages/services/dhcp4/calf/dist");
const QUICKJS_CALF = path.join(CALF_DIST, "calf-dhcp4-quickjs");
const NODE_CALF = path.join(CALF_DIST, "calf-dhcp4.mjs");

const isRoot = process.getuid?.() === 0;
const NEEDED = ["dnsmasq", "runc", "nsenter"];
if (process.env.CI === "true" && (!isRoot || !haveAll(NEEDED) || !existsSync(QUICKJS_CALF))) {
  throw new Error(`CI must run the default calf engine tests: root, ${NEEDED.join(", ")} and ${QUICKJS_CALF} (make setup builds it)`);
}
const canRun = isRoot && haveAll(NEEDED) && existsSync(QUICKJS_CALF);
const skipReason = !isRoot ? "needs root (network namespaces and runc)" : !existsSync(QUICKJS_CALF) ? `needs ${QUICKJS_CALF} (make setup)` : `needs ${NEEDED.join(", ")}`;

/** Bounds a hang only. */
const LEASE_TIMEOUT_MS = 20_000;
/** The warning of a fallback to Node (packages/cli/src/services.ts calfOnEngine). */
const FALLBACK_WARNING = /the calf of dhcp4 runs on Node .*its QuickJS executable \S+calf-dhcp4-quickjs is missing; make setup builds it/;

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/**
 * dnsmasq and `paddock dhcp` without --calf-engine in a new lab, its environment from `env` (given
 * the lab); resolves once the lease is applied, with the calf's command line.
 */
async function leased(net: string, env: (l: NetLab) => NodeJS.ProcessEnv): Promise<{ shim: ShimProc; cmdline: string }> {
  const l = NetLab.create(net, "pe6");
  lab = l;
  l.startDnsmasq(defaultOffer(net));
  const shim = l.startShim({ env: env(l) });
  await l.waitForAddress(LEASE_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${shim.output.slice(-3000)}`);
  });
  await shim.waitFor(/handler lease applied/, LEASE_TIMEOUT_MS);
  let pid: number | undefined;
  await l.waitUntil("the container runtime to list the calf", async () => (pid = await shim.calfPid()) !== undefined, 10_000);
  return { shim, cmdline: readFileSync(`/proc/${pid}/cmdline`, "utf8") };
}

/** A calf folder as an installation without QuickJS has it: the DHCP calf's Node bundle only. */
function nodeOnlyCalfDir(l: NetLab): string {
  const dir = path.join(l.work, "calves");
  mkdirSync(dir, { mode: 0o755 });
  copyFileSync(NODE_CALF, path.join(dir, "calf-dhcp4.mjs"));
  return dir;
}

describe.skipIf(!canRun)(`the built-in services' default calf engine${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("paddock dhcp without --calf-engine runs the QuickJS calf, started early, with no warning", async () => {
    const { shim, cmdline } = await leased("10.76.0", () => process.env);
    expect(cmdline).toBe("/calf/main\0");
    expect(shim.output).toMatch(/calf started .*early=true/);
    expect(shim.output).not.toMatch(/WARN/);
  });

  it("without the QuickJS executable: the Node calf, started early, and one warning saying why and how to fix it", async () => {
    const { shim, cmdline } = await leased("10.77.0", (l) => ({ ...process.env, PADDOCK_CALF_DIR: nodeOnlyCalfDir(l) }));
    expect(cmdline.split("\0")).toContain("/calf/main.mjs");
    expect(shim.output).toMatch(/calf started .*early=true/);
    expect(shim.lines(FALLBACK_WARNING)).toHaveLength(1);
  });
});
