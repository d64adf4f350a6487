/**
 * The priv loads only what its command needs (issue 14 item 3), observed from outside: a module
 * loader hook (test/fixtures/record-modules.mjs, given to the priv with NODE_OPTIONS) logs every
 * ES module the process loads — the CLI's chunks (scripts/build.ts names each command module's
 * and prom-client's) and the node: builtins they import.
 *
 * - `paddock dhcp` without --metrics, its lease applied: the dhcp command's chunk, and not
 *   prom-client, not node:http, not another command's module (lab, pack, generate, kv, calf);
 * - the same with --metrics, after one scrape: prom-client and node:http are loaded (so the
 *   observation itself works, and the first case can fail).
 *
 * - `paddock run dhcp4 --iface IF` (one built-in service, one interface) starts its calf before the
 *   CLI loads, as `paddock dhcp` does, and the host adopts that calf (its debug log says so).
 * - `paddock --version` loads no Cap'n Proto code (its chunk is the command's to load: the CLI's
 *   entry reaches only the KV errors module), while `paddock dhcp` does (the control).
 * - `paddock dhcp --log-level debug` logs a "start-up phase" line for each step from Node's start to
 *   the interface check — those before the logger existed too — in the order they happened, the
 *   early calf spawned before the CLI loaded (observed, never timed).
 *
 * Waits are for states (an address, a log line, a scrape's answer) with bounds that only stop a
 * hang. Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, defaultOffer, findPaddockBin, hasCommands, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab, type PaddockProcess } from "@paddock/testkit";

const NEEDS = ["dnsmasq", "runc", "nsenter"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the priv-loads test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

/** A lease without the ARP probe is well under a second; this only bounds a hang. */
const TIMEOUT_MS = 45_000;
const RECORDER = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures/record-modules.mjs");
const offer = defaultOffer("10.91.0");

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/** The chunk and builtin names a module log holds: `dhcp` for dist/chunks/dhcp-HASH.mjs, `node:http`. */
function loadedNames(log: string): Set<string> {
  const names = new Set<string>();
  for (const url of existsSync(log) ? readFileSync(log, "utf8").split("\n") : []) {
    if (url.startsWith("node:")) names.add(url);
    const chunk = /\/dist\/chunks\/(.+)-[A-Z0-9]{8}\.mjs$/.exec(url);
    if (chunk) names.add(chunk[1]!);
  }
  return names;
}

/** Whether a module log holds a CLI chunk with capnp-ts in it (its error codes, CAPNP-TS…, survive the build). */
function loadedCapnp(log: string): boolean {
  return readFileSync(log, "utf8").split("\n").some((url) => /\/dist\/.*\.mjs$/.test(url) && readFileSync(new URL(url), "utf8").includes("CAPNP-TS"));
}

/** GET /metrics on a Unix socket: the exposition text. */
function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

/** `paddock dhcp` in a fresh lab with the recorder; resolves once the lease is applied. */
async function privWithLease(extra: (l: Lab) => string[], command: readonly string[] = ["dhcp", "--no-arp-probe"], prefix = "pst"): Promise<{ lab: Lab; log: string; priv: PaddockProcess; stop(): Promise<unknown> }> {
  const l = createLab({ prefix });
  lab = l;
  const server = l.namespace("srv", { ipv6: false });
  const client = l.namespace("cli", { ipv6: false });
  const link = l.veth(server, client, { addresses: { a: `${offer.net}.1/24` } });
  await startDnsmasq(l, server, { iface: link.a.name, offer });
  const log = l.file("modules.log");
  const priv = startPaddock(l, client, [
    ...command, "--iface", link.b.name, "--runtime-dir", l.file("run"), "--state-dir", l.file("state"),
    // `paddock run` takes a service's options as --set NAME=VALUE.
    ...(command[0] === "run" ? ["--set", `resolv-conf=${l.file("resolv.conf")}`] : ["--resolv-conf", l.file("resolv.conf")]), "--log-format", "json", ...extra(l),
  ], { env: { ...process.env, NODE_OPTIONS: `--import ${RECORDER}`, PADDOCK_TEST_MODULE_LOG: log }, name: "paddock dhcp (module log)" });
  await waitForAddress(l, client, link.b.name, "inet", { timeoutMs: TIMEOUT_MS, abortOnExit: priv });
  return { lab: l, log, priv, stop: () => priv.stop() };
}

describe("what paddock --version loads", () => {
  it("no Cap'n Proto code: the CLI's entry reaches the KV errors, not the KV server", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ps6-version-"));
    try {
      const log = path.join(dir, "modules.log");
      const r = spawnSync(findPaddockBin(), ["--version"], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: `--import ${RECORDER}`, PADDOCK_TEST_MODULE_LOG: log }, timeout: TIMEOUT_MS });
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      expect(loadedNames(log).size).toBeGreaterThan(0);
      expect(loadedCapnp(log)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!run)(`what the priv loads (${run ? "root" : skipReason})`, () => {
  it("paddock dhcp without --metrics: its own command's chunk, never prom-client, node:http or another command's module", async () => {
    const p = await privWithLease(() => []);
    const names = loadedNames(p.log);
    expect(names.has("dhcp")).toBe(true);
    // The control for paddock --version's test: a priv does load Cap'n Proto.
    expect(loadedCapnp(p.log)).toBe(true);
    for (const never of ["prom-client", "node:http", "lab", "lab-ntp", "pack", "generate", "kv", "calf", "new", "apply"]) {
      expect({ module: never, loaded: names.has(never) }).toEqual({ module: never, loaded: false });
    }
    await p.stop();
    // Nothing it loaded later (the stop) changes that.
    expect(loadedNames(p.log).has("prom-client")).toBe(false);
  });

  it("paddock dhcp --metrics: prom-client and node:http load for the endpoint and its first scrape", async () => {
    let metrics = "";
    const p = await privWithLease((l) => ["--metrics", (metrics = l.file("metrics.sock"))]);
    expect(loadedNames(p.log).has("node:http")).toBe(true);
    let last = "";
    await waitFor(async () => /^# TYPE /m.test((last = await scrape(metrics).catch((e: Error) => e.message))), { what: "a metrics scrape", timeoutMs: TIMEOUT_MS, state: () => last });
    expect(loadedNames(p.log).has("prom-client")).toBe(true);
    await p.stop();
  });

  it("paddock run dhcp4 --iface IF: the calf starts before the CLI loads and the host adopts it", async () => {
    const p = await privWithLease(() => ["--log-level", "debug"], ["run", "dhcp4", "--set", "arp-probe=false"]);
    const adopted = p.priv.logEntries().filter((e) => e.msg === "calf started early, adopted");
    expect(adopted.map((e) => e.calf)).toEqual([expect.stringMatching(/^dhcp4-/)]);
    // The run command's own chunk, not the dhcp command's: each command loads its own module.
    const names = loadedNames(p.log);
    expect([names.has("run"), names.has("dhcp")]).toEqual([true, false]);
    await p.stop();
  });

  it("paddock dhcp --log-level debug: every start-up phase before the interface check is logged, in order", async () => {
    const p = await privWithLease(() => ["--log-level", "debug"], ["dhcp", "--no-arp-probe"], "ps6");
    const phases = p.priv.logEntries().filter((e) => e.msg === "start-up phase");
    const names = phases.map((e) => e.phase);
    const before = ["node started", "native addon loaded", "early start loaded", "early: container runtime chosen", "early: lock taken", "early: leftovers removed", "early: calf bundle written", "early: calf spawned", "CLI loaded", "command loaded", "options resolved", "preflight done", "locks taken", "interface checked"];
    expect(names.slice(0, before.length)).toEqual(before);
    // In the order they happened: ms since the process started never decreases; the lines logged
    // after their step (those before the logger) carry the step's wall-clock time as `at`.
    const ms = phases.map((e) => e.ms as number);
    expect(ms).toEqual([...ms].sort((a, b) => a - b));
    expect(phases.slice(0, 11).map((e) => typeof e.at)).toEqual(Array(11).fill("number"));
    await p.stop();
  });
});
