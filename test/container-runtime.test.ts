/**
 * crun beside runc (issue 14 item 2, docs/decisions/0011-container-runtime.md):
 *
 * - the choice itself: cgroup layouts read from mountinfo texts (unified, v1 only, hybrid with and
 *   without controllers in the cgroup2 mount), `auto` falling back to runc, a missing runtime
 *   named in one sentence with its code, crun wrapped in a mount namespace on a hybrid host;
 * - every scenario of the lease test (helpers/shim-lease.ts: renewals, a calf killed with SIGKILL
 *   and restarted, changed options, a NAK, expiry) under the runtime `auto` does not pick (runc
 *   where crun works), in labs prefixed `crn`: test/dhcp-shim-lease.test.ts runs them under auto's
 *   pick, so the suite covers both; `PADDOCK_TEST_CONTAINER_RUNTIME` (the testkit's lane) pins
 *   every other namespace test to one;
 * - the calf's sandbox as /proc shows it, the same under runc and crun: no capabilities, seccomp
 *   mode 2, NoNewPrivs, a read-only root, its own user namespace mapping.
 *
 * The integration tests need root and crun (make setup installs it). Skipped with a reason
 * otherwise, never under CI=true.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cgroupLayoutFrom, crunArgv, hostCgroupLayout, resolveContainerRuntime, type CgroupLayout } from "@paddock/runtime";
import { containerRuntimeLaneArgs } from "@paddock/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { defaultOffer, haveAll, NetLab } from "./helpers/lab.ts";
import { repoRoot } from "./helpers/paddock.ts";
import { describeShimLease } from "./helpers/shim-lease.ts";

const isRoot = process.getuid?.() === 0;
const NEEDED = ["dnsmasq", "kea-dhcp4", "runc", "crun", "unshare", "nsenter"];
if (process.env.CI === "true" && (!isRoot || !haveAll(NEEDED))) throw new Error(`CI must run the crun tests: root and ${NEEDED.join(", ")} (make setup installs them)`);
const canRun = isRoot && haveAll(NEEDED);
const skipReason = !isRoot ? "needs root (network namespaces, runc and crun)" : `needs ${NEEDED.join(", ")}`;

/** Bounds a hang only. */
const LEASE_TIMEOUT_MS = 20_000;

/** mountinfo lines as the kernel writes them (fields up to the separator are what matters). */
const mount = (id: number, point: string, type: string, opts = "rw") => `${id} 22 0:${id} / ${point} rw,relatime - ${type} ${type} ${opts}`;
const V1 = ["cpu", "memory", "pids"].map((c, n) => mount(31 + n, `/sys/fs/cgroup/${c}`, "cgroup", `rw,${c}`));

describe("choosing the container runtime", () => {
  it.each<[string, string[], Record<string, string>, CgroupLayout]>([
    ["unified (cgroup2 at /sys/fs/cgroup)", [mount(30, "/sys/fs/cgroup", "cgroup2")], {}, { kind: "unified" }],
    ["v1 only", [mount(30, "/sys/fs/cgroup", "tmpfs"), ...V1], {}, { kind: "legacy" }],
    ["hybrid, the cgroup2 mount without controllers", [mount(30, "/sys/fs/cgroup", "tmpfs"), ...V1, mount(40, "/sys/fs/cgroup/unified", "cgroup2")], { "/sys/fs/cgroup/unified": "\n" }, { kind: "legacy" }],
    ["hybrid, hugetlb in the cgroup2 mount", [mount(30, "/sys/fs/cgroup", "tmpfs"), ...V1, mount(40, "/sys/fs/cgroup/unified", "cgroup2")], { "/sys/fs/cgroup/unified": "hugetlb\n" }, { kind: "hybrid", unifiedMount: "/sys/fs/cgroup/unified" }],
    ["a cgroup2 mount over the tmpfs (the later mount wins)", [mount(30, "/sys/fs/cgroup", "tmpfs"), mount(41, "/sys/fs/cgroup", "cgroup2")], {}, { kind: "unified" }],
    ["garbage", ["", "not a mountinfo line", "1 2 3"], {}, { kind: "legacy" }],
  ])("the cgroup layout: %s", (_what, lines, controllers, want) => {
    expect(cgroupLayoutFrom(lines.join("\n"), (p) => controllers[p] ?? "")).toEqual(want);
  });

  const probe = (installed: string[], layout: CgroupLayout) => ({ isExecutable: (c: string) => installed.includes(c), layout: () => layout });
  const hybrid: CgroupLayout = { kind: "hybrid", unifiedMount: "/sys/fs/cgroup/unified" };

  it("auto is crun where it is installed and usable, runc otherwise", () => {
    expect(resolveContainerRuntime("auto", probe(["runc", "crun"], { kind: "unified" }))).toEqual({ ok: true, value: { name: "crun", argv: ["crun"] } });
    expect(resolveContainerRuntime("auto", probe(["runc"], { kind: "unified" }))).toEqual({ ok: true, value: { name: "runc", argv: ["runc"] } });
    // A hybrid host without unshare(1): crun cannot be given its view, so auto is runc.
    expect(resolveContainerRuntime("auto", probe(["runc", "crun"], hybrid))).toEqual({ ok: true, value: { name: "runc", argv: ["runc"] } });
    expect(resolveContainerRuntime("auto", probe(["runc", "crun", "unshare"], hybrid))).toEqual({ ok: true, value: { name: "crun", argv: crunArgv("crun", hybrid) } });
    expect(resolveContainerRuntime("runc", probe(["runc", "crun"], { kind: "unified" }))).toEqual({ ok: true, value: { name: "runc", argv: ["runc"] } });
  });

  it("a runtime asked for and missing is one sentence with a stable code", () => {
    const noCrun = resolveContainerRuntime("crun", probe(["runc"], { kind: "unified" }));
    expect(noCrun).toEqual({ ok: false, error: { code: "PADDOCK_E_HOST_NO_CRUN", message: expect.stringMatching(/^crun is not installed .*--container-runtime runc$/) } });
    const noRunc = resolveContainerRuntime("runc", probe(["crun"], { kind: "unified" }));
    expect(noRunc).toEqual({ ok: false, error: { code: "PADDOCK_E_HOST_NO_RUNC", message: expect.stringMatching(/^runc is not installed/) } });
    expect(resolveContainerRuntime("auto", probe([], { kind: "unified" }))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_HOST_NO_RUNC" } });
    expect(resolveContainerRuntime("crun", probe(["crun", "runc"], hybrid))).toMatchObject({ ok: false, error: { code: "PADDOCK_E_HOST_NO_CRUN", message: expect.stringContaining("unshare") } });
  });

  it("on a hybrid host crun runs in a mount namespace without the cgroup2 mount; elsewhere as it is", () => {
    expect(crunArgv("/usr/bin/crun", { kind: "legacy" })).toEqual(["/usr/bin/crun"]);
    const argv = crunArgv("/usr/bin/crun", hybrid);
    expect(argv.slice(0, 5)).toEqual(["unshare", "--mount", "--propagation", "private", "--"]);
    expect(argv.slice(-2)).toEqual(["/sys/fs/cgroup/unified", "/usr/bin/crun"]);
  });
});

describe("the container runtime lane of the testkit (PADDOCK_TEST_CONTAINER_RUNTIME)", () => {
  it("adds --container-runtime to commands that run calves, unless they choose one", () => {
    const env = { PADDOCK_TEST_CONTAINER_RUNTIME: "runc" };
    expect(containerRuntimeLaneArgs(["dhcp", "--iface", "eth0"], env)).toEqual(["--container-runtime", "runc"]);
    expect(containerRuntimeLaneArgs(["run", "dhcp4", "ntp", "--iface", "eth0"], env)).toEqual(["--container-runtime", "runc"]);
    expect(containerRuntimeLaneArgs(["dhcp", "--iface", "eth0", "--container-runtime", "crun"], env)).toEqual([]);
    expect(containerRuntimeLaneArgs(["dhcp", "--container-runtime=crun"], env)).toEqual([]);
    expect(containerRuntimeLaneArgs(["kv", "get", "/ip"], env)).toEqual([]);
    expect(containerRuntimeLaneArgs(["dhcp", "--iface", "eth0"], {})).toEqual([]);
  });
});

describe("--container-runtime on the command line", () => {
  const cli = path.join(repoRoot, "packages/cli/bin/paddock.mjs");
  /** `paddock ARGS…` with `PATH`; its status and the one line it printed. */
  const refusal = (args: string[], PATH = process.env.PATH ?? "") => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, PATH }, timeout: 20_000 });
    return { status: r.status, line: r.stderr.trim() };
  };

  it("a runtime that does not exist is refused in one sentence", () => {
    for (const command of [["dhcp", "--iface", "eth0"], ["run", "dhcp4", "--iface", "eth0"]]) {
      expect(refusal([...command, "--container-runtime", "podman"]), command[0]).toEqual({ status: 1, line: 'paddock: --container-runtime must be auto, runc or crun, not "podman"' });
    }
  });

  it.skipIf(!isRoot)("crun asked for and not installed: one sentence, and how to go on", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "crn-cli-"));
    try {
      // PATH without /usr/bin, where Debian installs crun (runc is in /usr/sbin).
      const args = ["dhcp", "--iface", "lo", "--container-runtime", "crun", "--runtime-dir", path.join(dir, "run"), "--state-dir", path.join(dir, "state"), "--resolv-conf", path.join(dir, "resolv.conf"), "--admin-socket", path.join(dir, "a.sock")];
      expect(refusal(args, "/usr/sbin:/sbin")).toEqual({ status: 1, line: "paddock: crun is not installed (not found on PATH); install the Debian package crun or start with --container-runtime runc" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// test/dhcp-shim-lease.test.ts runs the lease scenarios under the runtime `auto` picks (crun on
// a host where it works); here they run under the other one, so one run of the suite covers both.
const autoPick = resolveContainerRuntime("auto");
const otherRuntime = autoPick.ok && autoPick.value.name === "crun" ? "runc" : "crun";
if (canRun) describeShimLease({ engine: "node", prefix: "crn", containerRuntime: otherRuntime });

/** What /proc says about a calf's sandbox. */
interface SandboxView {
  readonly capabilities: Record<string, string>;
  readonly seccomp: string;
  readonly noNewPrivs: string;
  readonly rootOptions: string[];
  readonly uidMap: string;
  readonly namespacesOwn: string[];
  /** The cgroup limits the calf's bundle asks for, as the kernel holds them. */
  readonly memoryLimitBytes: string;
  readonly pidsLimit: string;
  /** The calf's line of the unified hierarchy in /proc/PID/cgroup ("0::/…"). */
  readonly unifiedCgroup: string;
}

/** A cgroup file of `pid`'s `controller` (v1), or of its unified cgroup (`v2file`). */
function cgroupValue(pid: number, controller: string, v1file: string, v2file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n").map((l) => l.split(":"));
  const v1 = lines.find((f) => f[1]!.split(",").includes(controller));
  const file = v1 ? `/sys/fs/cgroup/${controller}${v1[2]}/${v1file}` : `/sys/fs/cgroup${lines.find((f) => f[0] === "0")?.[2] ?? ""}/${v2file}`;
  return readFileSync(file, "utf8").trim();
}

/** The calf `pid`'s sandbox as seen from /proc. */
function sandboxView(pid: number): SandboxView {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, "m").exec(status)?.[1] ?? "(absent)";
  const root = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").map((l) => l.split(" ")).filter((f) => f[4] === "/").at(-1);
  const ownNs = ["mnt", "net", "pid", "ipc", "uts", "user", "cgroup"].filter((ns) => readlinkSync(`/proc/${pid}/ns/${ns}`) !== readlinkSync(`/proc/self/ns/${ns}`));
  return {
    capabilities: Object.fromEntries(["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map((c) => [c, field(c)])),
    seccomp: field("Seccomp"),
    noNewPrivs: field("NoNewPrivs"),
    rootOptions: (root?.[5] ?? "").split(",").filter((o) => o === "ro" || o === "rw"),
    uidMap: readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/).join(" "),
    namespacesOwn: ownNs,
    memoryLimitBytes: cgroupValue(pid, "memory", "memory.limit_in_bytes", "memory.max"),
    pidsLimit: cgroupValue(pid, "pids", "pids.max", "pids.max"),
    unifiedCgroup: readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").find((l) => l.startsWith("0::")) ?? "(none)",
  };
}

let lab: NetLab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

/** dnsmasq and the shim with its calf under `runtime`; the calf's sandbox once the lease is applied. */
async function calfSandbox(net: string, runtime: "runc" | "crun"): Promise<SandboxView> {
  const l = NetLab.create(net, "crn");
  lab = l;
  l.startDnsmasq(defaultOffer(net));
  const shim = l.startShim({ extraArgs: ["--container-runtime", runtime] });
  await l.waitForAddress(LEASE_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${shim.output.slice(-3000)}`);
  });
  await shim.waitFor(/handler lease applied/, LEASE_TIMEOUT_MS);
  let pid: number | undefined;
  await l.waitUntil(`${runtime} to list the calf`, async () => (pid = await shim.calfPid()) !== undefined, 10_000);
  // The state is the asked runtime's (RUNTIME_DIR/runc or RUNTIME_DIR/crun), not the other's.
  expect(existsSync(path.join(shim.runtimeDir, runtime))).toBe(true);
  expect(existsSync(path.join(shim.runtimeDir, runtime === "runc" ? "crun" : "runc"))).toBe(false);
  const view = sandboxView(pid!);
  await l.destroy();
  lab = undefined;
  return view;
}

describe.skipIf(!canRun)(`the calf's sandbox under runc and crun${canRun ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("is the same as /proc shows it: no capabilities, seccomp filter, NoNewPrivs, read-only root, own namespaces", async () => {
    const underRunc = await calfSandbox("10.64.0", "runc");
    const underCrun = await calfSandbox("10.65.0", "crun");
    for (const view of [underRunc, underCrun]) {
      expect(Object.values(view.capabilities)).toEqual(["0000000000000000", "0000000000000000", "0000000000000000", "0000000000000000", "0000000000000000"]);
      expect(view.seccomp).toBe("2");
      expect(view.noNewPrivs).toBe("1");
      expect(view.rootOptions).toEqual(["ro"]);
      expect(view.uidMap).not.toMatch(/^0 0 /);
      expect(view.namespacesOwn).toEqual(["mnt", "net", "pid", "ipc", "uts", "user", "cgroup"]);
      // The DHCP calf's definition: 96 MiB, 32 tasks.
      expect(view.memoryLimitBytes).toBe(String(96 * 1024 * 1024));
      expect(view.pidsLimit).toBe("32");
    }
    // One difference, on a hybrid host only: runc also puts the calf in a cgroup of its own in the
    // cgroup2 mount (which holds only hugetlb here, and no limit of the calf's); crun, which does
    // not see that mount (decision 0011), leaves it in its root. Everything else is equal.
    const { unifiedCgroup: runcUnified, ...runcRest } = underRunc;
    const { unifiedCgroup: crunUnified, ...crunRest } = underCrun;
    expect(crunRest).toEqual(runcRest);
    if (hostCgroupLayout().kind === "hybrid") {
      expect(runcUnified).toMatch(/^0::\/paddock\/dhcp4-crn/);
      expect(crunUnified).toBe("0::/");
    } else {
      for (const line of [runcUnified, crunUnified]) expect(line).toMatch(/^0::\/paddock\/dhcp4-crn/);
    }
  });
});
