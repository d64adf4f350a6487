/**
 * `paddock generate` (issue 12; docs/generate.md): the deployment file's validation, the artefacts
 * and their checks, and a generated calf bundle run by `paddock run --bundle-dir` in a namespace
 * lab, getting a lease from dnsmasq.
 *
 * The figures this file measures (systemd-analyze security exposure of the generated unit, of
 * systemd-networkd's and of the example unit) are in docs/generate.md.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { calfNameFor, createCalfBundle, parseCalfName, PRIV_BASE_CAPABILITIES, RUNC_CAPABILITIES } from "@paddock/runtime";
import { canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab } from "@paddock/testkit";
import { loadDeployment } from "../packages/cli/src/commands/generate.ts";
import { MAX_UNIT_EXPOSURE, NETWORKD_EXPOSURE, runChecks, unitExposure } from "../packages/cli/src/generate/checks.ts";
import { DeploymentError, parseDeployment, type DefinitionLookup } from "../packages/cli/src/generate/deployment.ts";
import { generateDeployment, type GenerateReport } from "../packages/cli/src/generate/index.ts";
import { parseUnit } from "../packages/cli/src/generate/unit.ts";
import { BUILTIN_SERVICES } from "../packages/cli/src/services.ts";
import { listContainers } from "./helpers/containers.ts";

const repoRoot = path.resolve(import.meta.dirname, "..");
const paddockBin = path.join(repoRoot, "node_modules/.bin/paddock");
const builtins: DefinitionLookup = ({ name, module }) => (module ? undefined : BUILTIN_SERVICES[name]);
const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(path.join(tmpdir(), "paddock-gen-test-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Generates `yaml` (written as deployment.yaml in a scratch dir) into DIR/out. */
async function generate(yaml: string, variant?: string): Promise<{ report: GenerateReport; dir: string }> {
  const dir = scratch();
  const file = path.join(dir, "deployment.yaml");
  writeFileSync(file, yaml);
  const loaded = await loadDeployment(file, variant);
  try {
    return { report: await generateDeployment(loaded.deployment, loaded.services, path.join(dir, "out")), dir };
  } finally {
    loaded.cleanup();
  }
}

const EDGE = `name: edge
services:
  dhcp4:
    interfaces: [eth0, eth1]
    options: { vendor-class: acme, resolv-conf: /run/paddock/resolv.conf }
  ntp:
    interfaces: [eth0]
    options: { clock: system, server: 192.0.2.1 }
variants:
  debug:
    log-level: debug
    limits: { memory-max-mib: 512 }
  release:
    log-level: warn
    services:
      ntp: { options: { clock: observe } }
`;

describe("the deployment file", () => {
  it("applies a variant over the file: mappings merge, values replace", () => {
    const base = parseDeployment(EDGE, "d.yaml", builtins);
    expect(base.variants).toEqual(["debug", "release"]);
    expect(base.services.map((s) => [s.name, s.interfaces, s.settings])).toEqual([
      ["dhcp4", ["eth0", "eth1"], { "vendor-class": "acme", "resolv-conf": "/run/paddock/resolv.conf" }],
      ["ntp", ["eth0"], { clock: "system", server: "192.0.2.1" }],
    ]);
    expect([base.logLevel, base.limits.memoryMaxMiB]).toEqual(["info", 256]);
    const debug = parseDeployment(EDGE, "d.yaml", builtins, "debug");
    expect([debug.logLevel, debug.limits.memoryMaxMiB, debug.limits.tasksMax]).toEqual(["debug", 512, 128]);
    const release = parseDeployment(EDGE, "d.yaml", builtins, "release");
    expect(release.logLevel).toBe("warn");
    // The variant's one option changed; the file's other options stay.
    expect(release.services[1]!.settings).toEqual({ clock: "observe", server: "192.0.2.1" });
    const off = parseDeployment(`${EDGE}  nontp:\n    services: { ntp: { enabled: false } }\n`, "d.yaml", builtins, "nontp");
    expect(off.services.map((s) => s.name)).toEqual(["dhcp4"]);
  });

  // Each bad file: its one problem, as FILE:LINE and one sentence.
  const bad: Array<[string, string, RegExp, string?]> = [
    ["no name", "services: { dhcp4: { interfaces: [eth0] } }\n", /^d\.yaml:1: name is missing/],
    ["a bad name", "name: Edge!\nservices: { dhcp4: { interfaces: [eth0] } }\n", /^d\.yaml:1: name "Edge!" must be 1–32 lower-case letters/],
    ["an unknown service", "name: e\nservices:\n  dhcp9: { interfaces: [eth0] }\n", /^d\.yaml:3: services\.dhcp9: there is no built-in service dhcp9 \(dhcp4, ntp, ra, dhcp6; give module: PATH for your own\)$/],
    ["a file that is not a mapping", "- dhcp4\n", /^d\.yaml:1: the file must be a mapping \(name, services, variants, …\)$/],
    ["an unknown option", "name: e\nservices:\n  dhcp4:\n    interfaces: [eth0]\n    options:\n      hostnme: x\n", /^d\.yaml:6: services\.dhcp4\.options\.hostnme: dhcp4 has no option hostnme \(it has: hostname, /],
    ["an option value the service refuses", "name: e\nservices:\n  ntp:\n    interfaces: [eth0]\n    options:\n      clock: sundial\n", /^d\.yaml:6: services\.ntp\.options\.clock must be observe or system, not "sundial"$/],
    ["no interfaces", "name: e\nservices:\n  dhcp4: { options: {} }\n", /^d\.yaml:3: services\.dhcp4\.interfaces is missing/],
    ["a bad interface name", "name: e\nservices:\n  dhcp4:\n    interfaces:\n      - eth/0\n", /^d\.yaml:5: services\.dhcp4\.interfaces: "eth\/0" is not an interface name/],
    ["an unknown setting", "name: e\nloglevel: debug\nservices: { dhcp4: { interfaces: [eth0] } }\n", /^d\.yaml:2: "loglevel" is not a setting here \(it has: name, services, variants, log-level/],
    ["a bad log level", "name: e\nlog-level: loud\nservices: { dhcp4: { interfaces: [eth0] } }\n", /^d\.yaml:2: log-level must be debug, info, warn or error, not "loud"$/],
    ["a bad limit", "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\nlimits:\n  tasks-max: 3\n", /^d\.yaml:4: limits\.tasks-max must be a whole number 32–65536$/],
    ["a path that cannot go into a unit", "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\ninstall:\n  state-dir: /var/lib/my state\n", /^d\.yaml:4: install\.state-dir must be an absolute, normalized path without spaces/],
    ["an unknown variant", "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\nvariants: { debug: {} }\n", /^d\.yaml: there is no variant "release" \(it has: debug\)$/, "release"],
    ["a variant that sets its name", "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\nvariants:\n  debug:\n    name: other\n", /^d\.yaml:5: variants\.debug: "name" is not a setting here/],
    ["YAML that is not YAML", "name: e\nservices: [\n", /^d\.yaml:\d+: not valid YAML: /],
  ];
  it.each(bad)("refuses %s with one line naming FILE:LINE", (_what, text, message, variant) => {
    let err: unknown;
    try {
      parseDeployment(text, "d.yaml", builtins, variant);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeploymentError);
    const e = err as DeploymentError;
    expect(e.code).toMatch(/^PADDOCK_E_DEPLOYMENT_(INVALID|SYNTAX)$/);
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]).toMatch(message);
  });

  it("lists every problem of a file at once", () => {
    const err = (() => {
      try {
        parseDeployment("name: e\nservices:\n  dhcp4: { interfaces: [eth0], options: { hostnme: x } }\n  ntp: { interfaces: [] }\n", "d.yaml", builtins);
      } catch (e) {
        return e as DeploymentError;
      }
    })();
    expect(err?.problems).toEqual([
      expect.stringMatching(/^d\.yaml:3: services\.dhcp4\.options\.hostnme: /),
      expect.stringMatching(/^d\.yaml:4: services\.ntp\.interfaces is empty/),
    ]);
  });
});

describe("the generated artefacts", { timeout: 90_000 }, () => {
  it("writes a bundle per calf, one unit, a LinuxKit fragment and a report whose checks pass", async () => {
    const { report } = await generate(EDGE);
    expect(report.bundles.map((b) => path.basename(b.dir)).sort()).toEqual(["dhcp4-eth0", "dhcp4-eth1", "ntp-eth0"]);
    // eth0 runs dhcp4 and ntp, eth1 only dhcp4: two privs, two units.
    expect(report.units.map((u) => [u.name, u.services, u.interfaces])).toEqual([
      ["paddock-edge-eth0", ["dhcp4", "ntp"], ["eth0"]],
      ["paddock-edge-eth1", ["dhcp4"], ["eth1"]],
    ]);
    const failed = report.checks.filter((c) => c.status === "fail");
    expect(failed).toEqual([]);
    // The OCI schema really was checked (the Debian package and ajv are installed by make setup).
    const schema = report.checks.filter((c) => c.rule.includes("OCI runtime-spec schema"));
    expect(schema.map((c) => c.status)).toEqual(["pass", "pass", "pass"]);
    expect(readFileSync(path.join(report.outDir, "check-report.txt"), "utf8")).toMatch(/^PASS +bundle dhcp4-eth0: config\.json is valid against the OCI runtime-spec schema/m);
  });

  it("bundles: read-only binds nosuid,nodev (noexec but for Node and its libraries), /proc hidepid, sized tmpfs, passwd/group of the calf's user only", async () => {
    const { report } = await generate(EDGE);
    const dir = report.bundles.find((b) => b.service === "dhcp4")!.dir;
    const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
    const ldd = execFileSync("ldd", ["/usr/bin/node"], { encoding: "utf8" });
    const exec = new Set(["/usr/bin/node", ...[...ldd.matchAll(/(\/\S+) \(/g)].map((m) => m[1]!)]);
    for (const m of config.mounts.filter((m: { type: string }) => m.type === "bind")) {
      expect(m.options, m.destination).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev"]));
      expect(m.options.includes("noexec"), m.destination).toBe(!exec.has(m.destination));
    }
    expect(config.mounts.find((m: { destination: string }) => m.destination === "/calf/main.mjs").source).toBe("/usr/lib/paddock/calves/calf-dhcp4.mjs");
    expect(config.mounts.find((m: { destination: string }) => m.destination === "/proc").options).toContain("hidepid=invisible");
    for (const m of config.mounts.filter((m: { type: string }) => m.type === "tmpfs")) expect(m.options.some((o: string) => /^size=\d+$/.test(o)), m.destination).toBe(true);
    expect(readFileSync(path.join(dir, "rootfs/etc/passwd"), "utf8")).toBe("calf:x:1000:1000:Paddock calf:/:/usr/sbin/nologin\n");
    expect(readFileSync(path.join(dir, "rootfs/etc/group"), "utf8")).toBe("calf:x:1000:\n");
    expect(config.root).toEqual({ path: "rootfs", readonly: true });
    expect(config.linux.resources.memory.limit).toBe(BUILTIN_SERVICES.dhcp4!.calf.memoryMiB * 1024 * 1024);
    expect(config.linux.resources.pids.limit).toBe(BUILTIN_SERVICES.dhcp4!.calf.pids);
    expect(JSON.parse(readFileSync(path.join(dir, "seccomp.json"), "utf8"))).toEqual(config.linux.seccomp);
  });

  it("a generated config.json is the one the runtime writes for the same calf (one function serves both)", async () => {
    const { report } = await generate(EDGE);
    const b = report.bundles.find((x) => x.service === "dhcp4" && x.iface === "eth0")!;
    const name = parseCalfName(calfNameFor("dhcp4", "eth0", undefined));
    if (!name.ok) throw name.error;
    // createCalfBundle checks that the script exists: give it one at the generated path's name.
    const runtimeDir = scratch();
    const script = path.join(scratch(), "calf-dhcp4.mjs");
    writeFileSync(script, "", { mode: 0o644 });
    const def = BUILTIN_SERVICES.dhcp4!;
    const written = await createCalfBundle({ name: name.value, script, memoryBytes: def.calf.memoryMiB * 1024 * 1024, pids: def.calf.pids }, { runtimeDir });
    const generated = JSON.parse(readFileSync(path.join(b.dir, "config.json"), "utf8").replaceAll(b.script, script));
    expect(generated).toEqual(JSON.parse(readFileSync(path.join(written.dir, "config.json"), "utf8")));
  });

  it("the unit: the union of capabilities (CAP_SYS_TIME only with the clock set), hardening in force", async () => {
    const { report } = await generate(EDGE);
    const unit = (name: string) => parseUnit(readFileSync(report.units.find((u) => u.name === name)!.file, "utf8"));
    const withNtp = unit("paddock-edge-eth0");
    const dhcpOnly = unit("paddock-edge-eth1");
    const caps = (u: Map<string, string[]>) => u.get("CapabilityBoundingSet")![0]!.split(" ");
    expect(caps(withNtp)).toContain("CAP_SYS_TIME");
    expect(withNtp.get("ProtectClock")).toEqual(["no"]);
    expect(caps(dhcpOnly)).not.toContain("CAP_SYS_TIME");
    expect(dhcpOnly.get("ProtectClock")).toEqual(["yes"]);
    // Exactly what the priv keeps at run time (decision 0009): runc's and the priv's own, plus the clock.
    expect(caps(dhcpOnly).sort()).toEqual([...RUNC_CAPABILITIES, ...PRIV_BASE_CAPABILITIES].sort());
    expect(caps(withNtp).sort()).toEqual([...RUNC_CAPABILITIES, ...PRIV_BASE_CAPABILITIES, "CAP_SYS_TIME"].sort());
    for (const u of [withNtp, dhcpOnly]) {
      for (const [k, v] of [["Type", "notify"], ["NoNewPrivileges", "yes"], ["ProtectSystem", "strict"], ["ProtectHome", "yes"], ["PrivateTmp", "yes"], ["Environment", "NODE_OPTIONS="], ["SystemCallArchitectures", "native"], ["Restart", "on-failure"]]) {
        expect(u.get(k!), k).toEqual([v]);
      }
      expect(u.get("RestrictAddressFamilies")).toEqual(["AF_UNIX AF_NETLINK AF_PACKET AF_INET AF_INET6"]);
      // The DHCP service's resolv.conf is under the runtime directory: nothing else of / is writable.
      expect(u.get("ReadWritePaths")).toEqual(["/sys/fs/cgroup"]);
    }
    const release = await generate(EDGE, "release");
    expect(caps(parseUnit(readFileSync(release.report.units[0]!.file, "utf8")))).not.toContain("CAP_SYS_TIME");
  });

  it.skipIf(!hasSystemdAnalyze)("systemd-analyze: the units verify; exposure measured beside networkd's and the example unit's", async () => {
    const { report } = await generate(EDGE);
    const exposure = (file: string) => unitExposure(spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", file], { encoding: "utf8", env: { ...process.env, SYSTEMD_COLORS: "0" } }).stdout)!;
    const networkd = exposure("/lib/systemd/system/systemd-networkd.service");
    const example = exposure(path.join(repoRoot, "examples/image-builder/paddock-dhcp@.service"));
    const generated = report.units.map((u) => exposure(u.file));
    process.stdout.write(`exposure: generated ${generated.join(", ")}; systemd-networkd ${networkd}; examples/image-builder ${example}\n`);
    expect(networkd).toBe(NETWORKD_EXPOSURE);
    for (const e of generated) {
      expect(e).toBeLessThanOrEqual(MAX_UNIT_EXPOSURE);
      expect(e).toBeLessThan(example);
    }
    expect(report.checks.filter((c) => c.rule === "the unit file verifies").map((c) => c.status)).toEqual(["pass", "pass"]);
  });

  it("a check can fail: a bundle changed after generation is reported", async () => {
    const { report } = await generate("name: e\nservices: { dhcp4: { interfaces: [eth0] } }\n");
    const b = report.bundles[0]!;
    const file = path.join(b.dir, "config.json");
    const config = JSON.parse(readFileSync(file, "utf8"));
    const script = config.mounts.find((m: { destination: string }) => m.destination === "/calf/main.mjs");
    script.options = script.options.filter((o: string) => o !== "noexec");
    config.process.user.uid = -1;
    writeFileSync(file, JSON.stringify(config));
    writeFileSync(path.join(b.dir, "rootfs/etc/passwd"), "root:x:0:0::/root:/bin/sh\ncalf:x:1000:1000::/:/usr/sbin/nologin\n");
    const deployment = parseDeployment("name: e\nservices: { dhcp4: { interfaces: [eth0] } }\n", "d.yaml", builtins);
    const ldd = execFileSync("ldd", ["/usr/bin/node"], { encoding: "utf8" });
    const runtime = { binary: "/usr/bin/node", libraries: [...ldd.matchAll(/(\/\S+) \(/g)].map((m) => m[1]!) };
    const checks = await runChecks({ outDir: report.outDir, deployment, services: [{ ...deployment.services[0]!, definition: BUILTIN_SERVICES.dhcp4!, builtDir: undefined }], bundles: report.bundles, units: report.units, runtime, systemdAnalyze: false });
    const failed = checks.filter((c) => c.status === "fail").map((c) => c.rule);
    expect(failed).toEqual(expect.arrayContaining([
      "config.json is valid against the OCI runtime-spec schema",
      "the calf's script is noexec",
      "passwd and group hold only the calf's user",
    ]));
  });

  it("refuses an output directory that holds something else", async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, "precious.txt"), "x");
    const file = path.join(scratch(), "d.yaml");
    writeFileSync(file, "name: e\nservices: { dhcp4: { interfaces: [eth0] } }\n");
    const loaded = await loadDeployment(file, undefined);
    await expect(generateDeployment(loaded.deployment, loaded.services, dir)).rejects.toThrow(/is not empty and not a previous paddock generate output \(it holds precious\.txt\)/);
    expect(readFileSync(path.join(dir, "precious.txt"), "utf8")).toBe("x");
  });

  it("paddock generate on the command line: the report, and one line per problem of a bad file", () => {
    const dir = scratch();
    const file = path.join(dir, "d.yaml");
    writeFileSync(file, "name: e\nservices: { dhcp4: { interfaces: [eth0], options: { resolv-conf: /run/paddock/resolv.conf } } }\n");
    const ok = spawnSync(process.execPath, [path.join(repoRoot, "packages/cli/bin/paddock.mjs"), "generate", file, "--out", path.join(dir, "out"), "--no-systemd-analyze"], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^1 unit\(s\), 1 calf bundle\(s\); \d+ checks: \d+ passed, 0 failed, 2 skipped$/m);
    writeFileSync(file, "name: e\nservices: { dhcp4: { interfaces: [eth0], options: { route-metric: x } } }\n");
    const bad = spawnSync(process.execPath, [path.join(repoRoot, "packages/cli/bin/paddock.mjs"), "generate", file, "--out", path.join(dir, "out2")], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`paddock: ${file}:2: services.dhcp4.options.route-metric must be a whole number 0–4294967295, not "x"\n`);
    const missing = path.join(dir, "none.yaml");
    const none = spawnSync(process.execPath, [path.join(repoRoot, "packages/cli/bin/paddock.mjs"), "generate", missing, "--out", path.join(dir, "out3")], { encoding: "utf8" });
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(`paddock: cannot read ${missing}: no such file\n`);
  });
});

describe.skipIf(!canCreateLabs)(`a generated bundle run by paddock run --bundle-dir (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });

  it("the unit's own ExecStart, pointed at the lab, gets a lease from dnsmasq through the generated calf bundle", async () => {
    lab = createLab({ prefix: "gen" });
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: "10.91.0.1/24" } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer("10.91.0") });
    const out = lab.file("out");
    const deployment = lab.file("deployment.yaml");
    writeFileSync(
      deployment,
      [
        "name: gen",
        "services:",
        "  dhcp4:",
        `    interfaces: [${link.b.name}]`,
        `    options: { arp-probe: false, resolv-conf: ${lab.file("resolv.conf")}, hooks-dir: "" }`,
        "install:",
        `  paddock: ${paddockBin}`,
        `  bundle-dir: ${out}/bundles`,
        `  calf-dir: ${repoRoot}/packages/services/dhcp4/calf/dist`,
        `  config-dir: ${out}/config`,
        `  state-dir: ${lab.file("state")}`,
        `  runtime-dir: ${lab.file("run")}`,
        "",
      ].join("\n"),
    );
    const gen = spawnSync(process.execPath, [path.join(repoRoot, "packages/cli/bin/paddock.mjs"), "generate", deployment, "--out", out, "--no-systemd-analyze"], { encoding: "utf8" });
    expect(gen.status, gen.stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, "check-report.json"), "utf8")) as GenerateReport;
    const execStart = report.units[0]!.execStart;
    expect(execStart.slice(0, 3)).toEqual([paddockBin, "run", "dhcp4"]);
    const priv = startPaddock(lab, client, execStart.slice(1), { bin: execStart[0]! });
    const addr = await waitForAddress(lab, client, link.b.name, "inet", { abortOnExit: priv, timeoutMs: 60_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\npriv:\n${priv.output}`);
    });
    expect(addr.local).toMatch(/^10\.91\.0\.(1\d\d|200)$/);
    // The calf the container runtime runs is the generated bundle, not one the priv wrote.
    const running = await waitFor(() => listContainers(lab!.file("run")).filter((c) => c.status === "running").map((c) => c.bundle).at(0), { what: "the calf running", timeoutMs: 60_000 });
    expect(running).toBe(report.bundles[0]!.dir);
    expect(listContainers(lab.file("run")).map((c) => c.bundle)).toEqual([report.bundles[0]!.dir]);
    expect((await priv.stop()).code).toBe(0);
  }, 180_000);
});
