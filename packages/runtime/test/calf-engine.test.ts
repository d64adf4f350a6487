// Pure tests of the calf engines (sandbox/engine.ts, docs/decisions/0010): what a QuickJS calf's OCI
// config and seccomp profile hold next to a Node calf's, which engine a hosted calf runs on, and
// the definition's `calf.engine` check, a built-in calf's fallback to Node. No root needed.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CALF_SCRIPT_PATH, calfOciConfig, type CalfName, type CalfSandboxSpec, type NodeRuntime } from "../src/sandbox/bundle.ts";
import { builtinCalfWithFallback, CALF_QUICKJS_PATH, calfEngineOf, calfFileMismatch, calfFileName, isCalfEngine, QUICKJS_EXTRA_SYSCALLS } from "../src/sandbox/engine.ts";
import { CALF_FORBIDDEN_SYSCALLS, calfSeccompProfile, type SeccompProfile } from "../src/sandbox/seccomp.ts";
import { checkServiceDefinition, type ServiceDefinition } from "../src/service.ts";

const runtime: NodeRuntime = { binary: "/usr/bin/node", libraries: ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"] };
const nodeSpec: CalfSandboxSpec = { name: "dhcp4-eth0" as CalfName, script: "/opt/calves/calf-dhcp4.mjs", memoryBytes: 96 << 20, pids: 32 };
const quickjsSpec: CalfSandboxSpec = { ...nodeSpec, script: "/opt/calves/calf-dhcp4-quickjs", engine: "quickjs" };

const allowed = (p: SeccompProfile) => new Set(p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW").flatMap((r) => r.names));

describe("a QuickJS calf's OCI config", () => {
  const node = calfOciConfig(nodeSpec, runtime);
  const quickjs = calfOciConfig(quickjsSpec, runtime);

  it("mounts its one executable, runnable, and neither Node, its libraries nor a script", () => {
    const binds = quickjs.mounts.filter((m) => m.type === "bind");
    expect(binds).toEqual([{ destination: CALF_QUICKJS_PATH, type: "bind", source: quickjsSpec.script, options: ["bind", "ro", "nosuid", "nodev"] }]);
    expect(quickjs.mounts.map((m) => m.destination).sort()).toEqual(["/calf/main", "/dev", "/proc", "/tmp"]);
    // The Node calf has them all, and its script is noexec.
    expect(node.mounts.map((m) => m.destination)).toEqual(expect.arrayContaining(["/usr/bin/node", ...runtime.libraries, CALF_SCRIPT_PATH]));
  });

  it("runs the executable with no argument and the same environment and limits as a Node calf", () => {
    expect(quickjs.process.args).toEqual([CALF_QUICKJS_PATH]);
    expect(quickjs.process.env).toEqual(node.process.env);
    for (const key of ["user", "capabilities", "rlimits", "noNewPrivileges", "oomScoreAdj"] as const) expect(quickjs.process[key], key).toEqual(node.process[key]);
    expect(quickjs.root).toEqual(node.root);
    const { seccomp: _q, ...quickjsLinux } = quickjs.linux;
    const { seccomp: _n, ...nodeLinux } = node.linux;
    expect(quickjsLinux).toEqual(nodeLinux);
  });

  it("allows select and pselect6 on top of the Node calf's allowlist, and still none of the forbidden calls", () => {
    const q = allowed(quickjs.linux.seccomp);
    const n = allowed(node.linux.seccomp);
    expect([...q].filter((s) => !n.has(s)).sort()).toEqual([...QUICKJS_EXTRA_SYSCALLS].sort());
    expect([...n].filter((s) => !q.has(s))).toEqual([]);
    for (const s of CALF_FORBIDDEN_SYSCALLS) expect(q.has(s), s).toBe(false);
    // A Node calf does not get them: its loop is epoll.
    expect(n.has("select") || n.has("pselect6")).toBe(false);
    expect(allowed(calfSeccompProfile("x64", "quickjs"))).toEqual(q);
  });
});

describe("which engine a calf runs on", () => {
  const def = (engine?: "node" | "quickjs") => ({ calf: engine ? { engine } : {} });

  it("the operator's choice, else the definition's, else Node", () => {
    expect(calfEngineOf({ definition: def() })).toBe("node");
    expect(calfEngineOf({ definition: def("quickjs") })).toBe("quickjs");
    expect(calfEngineOf({ definition: def("quickjs"), calfEngine: "node" })).toBe("node");
    expect(calfEngineOf({ definition: def(), calfEngine: "quickjs" })).toBe("quickjs");
  });

  it("names the built calf files per engine, and knows only its engines", () => {
    expect(calfFileName("dhcp4", "node")).toBe("calf-dhcp4.mjs");
    expect(calfFileName("dhcp4", "quickjs")).toBe("calf-dhcp4-quickjs");
    expect(["node", "quickjs"].every(isCalfEngine)).toBe(true);
    for (const bad of ["v8", "QuickJS", "", undefined, 1]) expect(isCalfEngine(bad), String(bad)).toBe(false);
  });

  it("a built-in calf falls back to its Node bundle only when its QuickJS executable is missing", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-calf-engine-"));
    try {
      const node = path.join(dir, "calf-ntp.mjs");
      const quickjs = path.join(dir, "calf-ntp-quickjs");
      writeFileSync(node, "");
      expect(builtinCalfWithFallback("ntp", dir, "quickjs")).toEqual({ engine: "node", file: node, quickjsMissing: quickjs });
      writeFileSync(quickjs, "");
      expect(builtinCalfWithFallback("ntp", dir, "quickjs")).toEqual({ engine: "quickjs", file: quickjs });
      expect(builtinCalfWithFallback("ntp", dir, "node")).toEqual({ engine: "node", file: node });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a calf file that is not of its engine is said in one sentence, before a runtime would run it", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-calf-engine-"));
    try {
      const bundle = path.join(dir, "calf-ntp.mjs");
      const executable = path.join(dir, "calf-ntp-quickjs");
      writeFileSync(bundle, "export {};\n");
      writeFileSync(executable, Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]));
      expect(calfFileMismatch("ntp", bundle, "node")).toBeUndefined();
      expect(calfFileMismatch("ntp", executable, "quickjs")).toBeUndefined();
      expect(calfFileMismatch("ntp", bundle, "quickjs")).toBe(`the calf of ntp runs on QuickJS, but ${bundle} is not a QuickJS executable (a Node bundle? run it with the engine node)`);
      expect(calfFileMismatch("ntp", executable, "node")).toBe(`the calf of ntp runs on Node, but ${executable} is an executable, not a Node bundle (a QuickJS calf? run it with the engine quickjs)`);
      // An empty file is no executable: a Node calf that does nothing.
      writeFileSync(bundle, "");
      expect(calfFileMismatch("ntp", bundle, "node")).toBeUndefined();
      expect(calfFileMismatch("ntp", dir, "node")).toBe(`the calf of ntp, ${dir}, cannot be read: EISDIR`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a definition naming another engine is refused with the ones there are", () => {
    const d = {
      name: "echo",
      description: "an echo client",
      channels: { udp: { kind: "udp", localPort: 0, remotePort: 7, maxDatagramBytes: 512 } },
      schema: { entries: [], maxTotalBytes: 4096 },
      calf: { entry: "./calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 5, burst: 10 } },
    } as const satisfies ServiceDefinition<any>;
    expect(checkServiceDefinition(d)).toEqual([]);
    expect(checkServiceDefinition({ ...d, calf: { ...d.calf, engine: "quickjs" } })).toEqual([]);
    expect(checkServiceDefinition({ ...d, calf: { ...d.calf, engine: "v8" as "node" } })).toEqual(["calf.engine must be one of node, quickjs"]);
  });
});
