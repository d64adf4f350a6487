/**
 * `paddock serve` and `paddock apply` (issue 12; docs/generate.md, "paddock apply"): a running
 * priv moved from one deployment file to another in a namespace lab, with dnsmasq on two links.
 * What an apply leaves alone is checked by its calf's pid (runc's view), what it restarts by a new
 * pid, a failing service by the others staying up and keeping their address.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listContainers } from "./helpers/containers.ts";
import { capabilitiesInMask } from "@paddock/runtime";
import { canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab } from "@paddock/testkit";

const repoRoot = path.resolve(import.meta.dirname, "..");
const cli = path.join(repoRoot, "packages/cli/bin/paddock.mjs");
/** Bounds a hang only: a priv starting two calves on two cores shared with a CPU hog takes seconds. */
const START_WAIT_MS = 60_000;
/** What a priv running only DHCP keeps (decision 0009; test/priv-sandbox.test.ts checks every thread). */
const DHCP_PRIV_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SETGID", "CAP_SETUID", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_ADMIN"];

/** /proc/PID/status as a record. */
function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(readFileSync(`/proc/${pid}/status`, "utf8").split("\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
}

describe.skipIf(!canCreateLabs)(`paddock apply against a running paddock serve (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });

  it("disables, enables and restarts only what changed; a failing service is reported as 1 of 2 while the other keeps its lease", async () => {
    lab = createLab({ prefix: "gen" });
    const serverA = lab.namespace("srva");
    const serverB = lab.namespace("srvb");
    const client = lab.namespace("client");
    const a = lab.veth(serverA, client, { addresses: { a: "10.92.0.1/24" } });
    const b = lab.veth(serverB, client, { addresses: { a: "10.93.0.1/24" } });
    await startDnsmasq(lab, serverA, { iface: a.a.name, offer: defaultOffer("10.92.0") });
    await startDnsmasq(lab, serverB, { iface: b.a.name, offer: defaultOffer("10.93.0") });
    const runtimeDir = lab.file("run");
    const stateDir = lab.file("state");
    const deployment = (file: string, lines: string[]) => {
      const p = lab!.file(file);
      writeFileSync(p, ["name: gen", "services:", ...lines, ""].join("\n"));
      return p;
    };
    const dhcp = (ifaces: string[], extra: string[] = [], moreOptions = "") => [
      "  dhcp4:",
      `    interfaces: [${ifaces.join(", ")}]`,
      `    options: { arp-probe: false, resolv-conf: ${lab!.file("resolv.conf")}, hooks-dir: ""${moreOptions} }`,
      ...extra,
    ];
    const calves = () => {
      const byIface = new Map<string, number>();
      for (const c of listContainers(runtimeDir)) if (c.status === "running") byIface.set(c.id.includes(a.b.name) ? "A" : c.id.includes(b.b.name) ? "B" : c.id, c.pid);
      return byIface;
    };
    const applyFile = (file: string) => spawnSync(process.execPath, [cli, "apply", file, "--runtime-dir", runtimeDir], { encoding: "utf8" });

    const v1 = deployment("v1.yaml", dhcp([a.b.name, b.b.name]));
    const priv = startPaddock(lab, client, ["serve", v1, "--runtime-dir", runtimeDir, "--state-dir", stateDir, "--log-format", "json"]);
    await waitForAddress(lab, client, a.b.name, "inet", { abortOnExit: priv, timeoutMs: START_WAIT_MS });
    await waitForAddress(lab, client, b.b.name, "inet", { abortOnExit: priv, timeoutMs: START_WAIT_MS });
    const before = await waitFor(() => (calves().size === 2 ? calves() : undefined), { what: "both calves running", timeoutMs: START_WAIT_MS });

    // serve sandboxes its priv once the first deployment runs, as paddock run does.
    await priv.waitForEntry((e) => e.msg === "priv sandboxed: capabilities reduced, NoNewPrivs, seccomp deny list", { timeoutMs: START_WAIT_MS, what: "the sandbox line" });
    const status = procStatus(priv.pid!);
    expect([status.NoNewPrivs, status.Seccomp]).toEqual(["1", "2"]);
    expect(capabilitiesInMask(status.CapBnd!).sort()).toEqual([...DHCP_PRIV_CAPABILITIES].sort());
    // A deployment needing a capability the sandbox dropped (NTP setting the clock: CAP_SYS_TIME) is
    // refused whole, and everything keeps running as it was.
    const clock = deployment("clock.yaml", [...dhcp([a.b.name, b.b.name]), "  ntp:", `    interfaces: [${a.b.name}]`, "    options: { server: 10.92.0.1, clock: system }"]);
    const rClock = applyFile(clock);
    expect(rClock.status).toBe(1);
    expect(rClock.stderr).toBe(`paddock: the running priv refused ${clock}, and runs unchanged: ntp needs CAP_SYS_TIME, which this priv gave up when it sandboxed itself after its first deployment started (restart paddock serve with a deployment that has it)\n`);
    expect(calves()).toEqual(before);

    // v2: dhcp4 on A only; heartbeat (a module) on B without the peer it needs: it fails, A stays.
    const v2 = deployment("v2.yaml", [...dhcp([a.b.name]), "  heartbeat:", `    module: ${path.join(repoRoot, "examples/heartbeat/service.ts")}`, `    interfaces: [${b.b.name}]`]);
    const r2 = applyFile(v2);
    expect(r2.status, r2.stderr).toBe(1);
    expect(r2.stdout).toContain(`dhcp4 on ${a.b.name}: unchanged`);
    expect(r2.stdout).toContain(`dhcp4 on ${b.b.name}: stopped`);
    expect(r2.stdout).toMatch(new RegExp(`heartbeat on ${b.b.name}: failed \\(.*heartbeat needs --set peer=ADDRESS`));
    expect(r2.stderr).toBe("paddock: 1 of 2 services failed; the others run\n");
    const after2 = calves();
    expect([...after2.keys()]).toEqual(["A"]);
    expect(after2.get("A")).toBe(before.get("A"));
    expect((await waitForAddress(lab, client, a.b.name, "inet")).local).toMatch(/^10\.92\.0\./);

    // v3: dhcp4 on both again, with user data: A restarts (its user data changed), B starts.
    const v3 = deployment("v3.yaml", dhcp([a.b.name, b.b.name], ["    user-data: hello from v3"]));
    const r3 = applyFile(v3);
    expect(r3.status, r3.stderr).toBe(0);
    expect(r3.stdout).toContain(`dhcp4 on ${a.b.name}: restarted`);
    expect(r3.stdout).toContain(`dhcp4 on ${b.b.name}: started`);
    expect(r3.stdout).toContain("applied: 2 services");
    const userData = path.join(stateDir, "user-data/dhcp4/user-data");
    expect(readFileSync(userData, "utf8")).toBe("hello from v3");
    expect(statSync(path.dirname(userData)).mode & 0o777).toBe(0o700);
    expect(statSync(userData).mode & 0o777).toBe(0o600);
    await waitForAddress(lab, client, b.b.name, "inet", { abortOnExit: priv, timeoutMs: START_WAIT_MS });
    const after3 = await waitFor(() => (calves().size === 2 ? calves() : undefined), { what: "both calves running", timeoutMs: START_WAIT_MS });
    expect(after3.get("A")).not.toBe(before.get("A"));

    // A live option changed (vendor-class): reloaded in place, no calf restarted.
    const v3b = deployment("v3b.yaml", dhcp([a.b.name, b.b.name], ["    user-data: hello from v3"], ", vendor-class: acme"));
    const r3b = applyFile(v3b);
    expect(r3b.status, r3b.stderr).toBe(0);
    expect(r3b.stdout).toContain(`dhcp4 on ${a.b.name}: reloaded (dhcp4.vendor-class)`);
    expect(calves()).toEqual(after3);

    // The same file again: nothing restarts.
    const r4 = applyFile(v3b);
    expect(r4.status, r4.stderr).toBe(0);
    expect(r4.stdout).toContain(`dhcp4 on ${a.b.name}: unchanged`);
    expect(calves()).toEqual(after3);

    // A file with a problem changes nothing and says it in one line.
    const bad = deployment("bad.yaml", [...dhcp([a.b.name]), "  dhcp9: { interfaces: [x] }"]);
    const r5 = applyFile(bad);
    expect(r5.status).toBe(1);
    expect(r5.stderr).toMatch(/^paddock: .*bad\.yaml:\d+: services\.dhcp9: there is no built-in service dhcp9/);
    expect(calves()).toEqual(after3);

    // The only service fails: serve keeps running with nothing to serve, and a later apply brings dhcp4 back.
    const lonely = deployment("lonely.yaml", ["  heartbeat:", `    module: ${path.join(repoRoot, "examples/heartbeat/service.ts")}`, `    interfaces: [${b.b.name}]`]);
    const r6 = applyFile(lonely);
    expect(r6.status, r6.stderr).toBe(1);
    expect(r6.stdout).toMatch(new RegExp(`heartbeat on ${b.b.name}: failed`));
    expect(r6.stderr).toBe("paddock: 1 of 1 services failed; none runs, and paddock serve waits for the next apply\n");
    expect(calves().size).toBe(0);
    const r7 = applyFile(v1);
    expect(r7.status, r7.stderr).toBe(0);
    expect(r7.stdout).toContain("applied: 2 services");
    await waitFor(() => calves().size === 2, { what: "both calves running again", timeoutMs: START_WAIT_MS });

    expect((await priv.stop()).code).toBe(0);
    expect(calves().size).toBe(0);
  }, 300_000);
});

describe.skipIf(process.getuid?.() !== 0)("paddock serve not as root", () => {
  it("says that paddock must run as root, as the other commands that run services do", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fx-serve-"));
    try {
      chmodSync(dir, 0o755);
      const file = path.join(dir, "d.yaml");
      writeFileSync(file, "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\n");
      const r = spawnSync(process.execPath, [cli, "serve", file, "--runtime-dir", path.join(dir, "run")], { encoding: "utf8", uid: 65534, gid: 65534 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^paddock: paddock must run as root to run a service: .*\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
