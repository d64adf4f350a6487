/**
 * `paddock generate` with `calf-launch: external` (docs/decisions/0013-external-calves.md): a
 * .socket and a .service per calf, a sysusers.d file, and a priv unit without runc's capabilities
 * and namespaces; every one checked (systemd-analyze verify and security --offline), and a check
 * that fails when a directive is lost. The exposure figures are in docs/generate.md.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { calfHeapMiB, RUNC_CAPABILITIES } from "@paddock/runtime";
import { loadDeployment } from "../packages/cli/src/commands/generate.ts";
import { calfSyscallFilter } from "../packages/cli/src/generate/calf-units.ts";
import { MAX_CALF_UNIT_EXPOSURE, MAX_EXTERNAL_UNIT_EXPOSURE, NETWORKD_EXPOSURE, runChecks } from "../packages/cli/src/generate/checks.ts";
import { generateDeployment, type GenerateReport } from "../packages/cli/src/generate/index.ts";
import { parseUnit } from "../packages/cli/src/generate/unit.ts";
import { BUILTIN_SERVICES } from "../packages/cli/src/services.ts";

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function generate(yaml: string): Promise<{ report: GenerateReport; loaded: Awaited<ReturnType<typeof loadDeployment>> }> {
  const dir = mkdtempSync(path.join(tmpdir(), "paddock-genx-test-"));
  dirs.push(dir);
  const file = path.join(dir, "deployment.yaml");
  writeFileSync(file, yaml);
  const loaded = await loadDeployment(file, undefined);
  try {
    return { report: await generateDeployment(loaded.deployment, loaded.services, path.join(dir, "out")), loaded };
  } finally {
    loaded.cleanup();
  }
}

const DHCP = "name: edge\ncalf-launch: external\nservices:\n  dhcp4:\n    interfaces: [eth0, eth1]\n    options: { resolv-conf: /run/paddock/resolv.conf }\n";
const WITH_NTP = "name: edge\ncalf-launch: external\nservices:\n  dhcp4: { interfaces: [eth0], options: { resolv-conf: /run/paddock/resolv.conf } }\n  ntp: { interfaces: [eth0], options: { clock: system } }\n";
const unitOf = (file: string) => parseUnit(readFileSync(file, "utf8"));
const exposureOf = (r: GenerateReport, subject: string) => Number(/exposure ([0-9.]+)/.exec(r.checks.find((c) => c.subject === subject && c.rule.startsWith("exposure"))?.detail ?? "")?.[1]);

describe("paddock generate, calf-launch: external", () => {
  it("writes a socket and a unit per calf, the calves' user, and a priv unit without runc", async () => {
    const { report } = await generate(DHCP);
    const u = report.units[0]!;
    expect(u.calfUnits?.map((c) => c.name)).toEqual(["paddock-edge-dhcp4-eth0", "paddock-edge-dhcp4-eth1"]);
    const priv = unitOf(u.file);
    expect(priv.get("ExecStart")![0]).toMatch(/ --calf-launch external --calf-user paddock-calf( |$)/);
    expect(priv.get("ExecStart")![0]).not.toContain("--bundle-dir");
    expect(priv.get("Sockets")).toEqual(["paddock-edge-dhcp4-eth0.socket paddock-edge-dhcp4-eth1.socket"]);
    expect(priv.get("RestrictNamespaces")).toEqual(["yes"]);
    const caps = priv.get("CapabilityBoundingSet")![0]!.split(" ");
    expect(caps.sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(caps.filter((c) => (RUNC_CAPABILITIES as readonly string[]).includes(c))).toEqual([]);
    expect(priv.get("SystemCallFilter")).toEqual(["@system-service bpf"]);
    const calf = unitOf(u.calfUnits![0]!.file);
    // The OCI bundle's command line, with the script where it is installed.
    expect(calf.get("ExecStart")![0]).toBe(`/usr/lib/paddock/paddock-calf-launch -e HOME=/ /run/paddock/calves/dhcp4-eth0.sock /usr/bin/node --jitless --no-expose-wasm --max-old-space-size=${calfHeapMiB(BUILTIN_SERVICES.dhcp4!.calf.memoryMiB * 1024 * 1024)} /usr/lib/paddock/calves/calf-dhcp4.mjs`);
    expect(calf.get("MemoryMax")).toEqual([`${BUILTIN_SERVICES.dhcp4!.calf.memoryMiB}M`]);
    expect(calf.get("SystemCallFilter")).toEqual([calfSyscallFilter("node").join(" ")]);
    expect(calf.get("SystemCallFilter")![0]).not.toMatch(/\b(bind|setsockopt|ptrace|mount|bpf)\b/);
    const sock = unitOf(u.calfUnits![0]!.socketFile);
    expect(sock.get("ListenStream")).toEqual(["/run/paddock/calves/dhcp4-eth0.sock"]);
    expect(sock.get("FileDescriptorName")).toEqual(["dhcp4-eth0"]);
    expect(readFileSync(path.join(report.outDir, "sysusers.d/paddock.conf"), "utf8")).toMatch(/^u paddock-calf - "Paddock calves" \/ \/usr\/sbin\/nologin$/m);
    expect(report.failed).toBe(0);
  });

  it.skipIf(!hasSystemdAnalyze)("every unit verifies, the priv's exposure is below networkd's with DHCP alone and at most 2.8 with the clock, each calf's 0.2", async () => {
    const dhcp = (await generate(DHCP)).report;
    const ntp = (await generate(WITH_NTP)).report;
    for (const r of [dhcp, ntp]) {
      expect(r.checks.filter((c) => c.status !== "pass").map((c) => `${c.subject}: ${c.rule}: ${c.detail}`)).toEqual([]);
      expect(r.checks.filter((c) => c.rule === "the unit file verifies")).toHaveLength(1 + r.units[0]!.calfUnits!.length);
    }
    const figures = {
      dhcp: exposureOf(dhcp, "unit paddock-edge"),
      ntp: exposureOf(ntp, "unit paddock-edge"),
      calf: exposureOf(dhcp, "unit paddock-edge-dhcp4-eth0"),
    };
    console.log(`exposure (systemd-analyze security --offline=yes): priv, DHCP alone ${figures.dhcp}; priv, DHCP and NTP with clock: system ${figures.ntp}; a calf's unit ${figures.calf}; systemd-networkd ${NETWORKD_EXPOSURE}`);
    expect(figures.dhcp).toBeLessThan(NETWORKD_EXPOSURE);
    expect(figures.ntp).toBeLessThanOrEqual(MAX_EXTERNAL_UNIT_EXPOSURE);
    expect(figures.calf).toBeLessThanOrEqual(MAX_CALF_UNIT_EXPOSURE);
  }, 60_000);

  it.skipIf(!hasSystemdAnalyze)("a check can fail: a calf unit or the priv unit that lost a directive is reported", async () => {
    const { report, loaded } = await generate(DHCP);
    const u = report.units[0]!;
    const calfFile = u.calfUnits![0]!.file;
    writeFileSync(calfFile, readFileSync(calfFile, "utf8").replace(/^PrivateNetwork=yes\n/m, "").replace(/^MemoryDenyWriteExecute=yes\n/m, ""));
    writeFileSync(u.file, readFileSync(u.file, "utf8").replace(/^RestrictNamespaces=yes\n/m, "").replace(/^CapabilityBoundingSet=(.*)$/m, "CapabilityBoundingSet=$1 CAP_SYS_ADMIN"));
    const checks = await runChecks({ outDir: report.outDir, deployment: loaded.deployment, services: loaded.services, bundles: report.bundles, units: report.units, runtime: { binary: "/usr/bin/node", libraries: [] }, systemdAnalyze: true });
    const failed = checks.filter((c) => c.status === "fail").map((c) => `${c.subject}: ${c.rule}`);
    expect(failed).toEqual(expect.arrayContaining([
      "unit paddock-edge-dhcp4-eth0: no network: only loopback in its own namespace",
      "unit paddock-edge-dhcp4-eth0: W^X: no writable and executable memory",
      `unit paddock-edge-dhcp4-eth0: exposure at most ${MAX_CALF_UNIT_EXPOSURE}, every hardening directive in force`,
      "unit paddock-edge: no namespaces: the calves start outside this unit",
      "unit paddock-edge: nothing of runc's capabilities",
      `unit paddock-edge: exposure at most ${MAX_EXTERNAL_UNIT_EXPOSURE}, every hardening directive in force`,
    ]));
  }, 60_000);

  it("refuses an unknown calf-launch and a calf-user that is not a user name, one line each", async () => {
    await expect(generate("name: e\ncalf-launch: systemd\ncalf-user: Root Admin\nservices: { dhcp4: { interfaces: [eth0] } }\n")).rejects.toThrow(
      /deployment\.yaml:2: calf-launch must be runtime or external, not "systemd"\n.*deployment\.yaml:3: calf-user must be a system user name/,
    );
  });
});
