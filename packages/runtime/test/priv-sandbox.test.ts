// The priv sandbox's pieces (issue 12 item 2): the seccomp program evaluated instruction by
// instruction with the kernel's seccomp semantics, its call numbers checked against the kernel
// headers, the capability sets per service; and, as root, the filter and the capability drop
// installed for real in a child Node, observed from /proc and through what its children can do.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cbpf } from "@paddock/native";
import { describe, expect, it } from "vitest";
import {
  AUDIT_ARCH,
  PRIV_DENIED,
  privSeccompProgram,
  RUNC_ONLY_SYSCALLS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SYSCALL_NUMBERS,
  X32_SYSCALL_BIT,
} from "../src/priv-sandbox/seccomp.ts";
import { capabilitiesInMask, CAPABILITY_NAMES, PRIV_BASE_CAPABILITIES, privCapabilities, RUNC_CAPABILITIES } from "../src/priv-sandbox/capabilities.ts";
import { PrivSandboxError, serviceCapabilities } from "../src/priv-sandbox/index.ts";
import { defineService, type ServiceDefinition } from "../src/service.ts";

/**
 * What the kernel's seccomp does with a classic program: A = 32-bit words of struct seccomp_data
 * (nr at 0, arch at 4, native byte order); the program's return value is the action.
 */
function evaluate(program: Uint8Array, nr: number, arch: number): number {
  const insns = cbpf.decode(program)!;
  let a = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    if (code === 0x20) a = k === 0 ? nr >>> 0 : k === 4 ? arch >>> 0 : Number.NaN; // ld w abs
    else if (code === 0x15) pc += a === k ? jt : jf; // jeq k
    else if (code === 0x35) pc += a >= k ? jt : jf; // jge k
    else if (code === 0x06) return k; // ret k
    else throw new Error(`instruction ${code.toString(16)} at ${pc} is not one this program should use`);
  }
  throw new Error("ran past the end");
}

const EPERM = SECCOMP_RET_ERRNO | 1;

describe("the priv's seccomp program", () => {
  for (const arch of ["x64", "arm64"] as const) {
    const program = privSeccompProgram(arch);
    const numbers = SYSCALL_NUMBERS[arch];

    it(`${arch}: refuses every denied call with EPERM and allows the calls runc and the priv need`, () => {
      for (const name of PRIV_DENIED) {
        if (numbers[name] === undefined) continue;
        expect([name, evaluate(program, numbers[name]!, AUDIT_ARCH[arch])]).toEqual([name, EPERM]);
      }
      // read, mount, pivot_root, unshare, setns, bpf, clock_adjtime, clone3 (x64 numbers; arm64's differ but are not denied either).
      const allowed = arch === "x64" ? [0, 165, 155, 272, 308, 321, 305, 435] : [63, 40, 41, 97, 268, 280, 266, 435];
      for (const nr of allowed) expect([nr, evaluate(program, nr, AUDIT_ARCH[arch])]).toEqual([nr, SECCOMP_RET_ALLOW]);
      // A call number no kernel has yet: the kernel answers ENOSYS itself, the filter lets it through.
      expect(evaluate(program, 1000, AUDIT_ARCH[arch])).toBe(SECCOMP_RET_ALLOW);
    });

    it(`${arch}: with the calves started outside the priv, also refuses what only runc needed (mounts, pivot_root, chroot, namespaces)`, () => {
      const external = privSeccompProgram(arch, { runsCalves: false });
      for (const name of [...PRIV_DENIED, ...RUNC_ONLY_SYSCALLS]) {
        if (numbers[name] === undefined) continue;
        expect([name, evaluate(external, numbers[name]!, AUDIT_ARCH[arch])]).toEqual([name, EPERM]);
      }
      // read, bpf, clock_adjtime, clone3 stay allowed.
      for (const nr of arch === "x64" ? [0, 321, 305, 435] : [63, 280, 266, 435]) expect([nr, evaluate(external, nr, AUDIT_ARCH[arch])]).toEqual([nr, SECCOMP_RET_ALLOW]);
    });

    it(`${arch}: refuses every call of another ABI, whose numbers mean other calls`, () => {
      const i386 = 0x40000003;
      for (const nr of [0, 26 /* i386 ptrace */, 101]) expect(evaluate(program, nr, i386)).toBe(EPERM);
      if (arch === "x64") expect(evaluate(program, X32_SYSCALL_BIT | 101, AUDIT_ARCH.x64)).toBe(EPERM);
    });
  }

  it("knows only the architectures it has numbers for, and says what to do otherwise", () => {
    expect(() => privSeccompProgram("riscv64")).toThrow(PrivSandboxError);
    expect(() => privSeccompProgram("riscv64")).toThrow(/--no-sandbox/);
  });

  const headers = { x64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", arm64: "/usr/include/asm-generic/unistd.h" } as const;
  for (const arch of ["x64", "arm64"] as const) {
    it.skipIf(!existsSync(headers[arch]))(`${arch}: its numbers are the kernel headers' (${headers[arch]})`, () => {
      const text = readFileSync(headers[arch], "utf8");
      for (const [name, nr] of Object.entries(SYSCALL_NUMBERS[arch])) {
        const m = new RegExp(`#define __NR(?:3264)?_${name}\\s+(\\d+)\\b`).exec(text);
        expect([name, m ? Number(m[1]) : undefined]).toEqual([name, nr]);
      }
    });
  }
});

describe("the priv's capabilities", () => {
  const base = [...RUNC_CAPABILITIES, ...PRIV_BASE_CAPABILITIES];

  it("are runc's and the priv's own for a service that declares nothing, in capability order", () => {
    const caps = privCapabilities([[]]);
    expect([...caps].sort()).toEqual([...new Set(base)].sort());
    expect(caps.map((c) => CAPABILITY_NAMES.indexOf(c))).toEqual([...caps.map((c) => CAPABILITY_NAMES.indexOf(c))].sort((a, b) => a - b));
  });

  const udpService = (port: number, caps: string[] = []): ServiceDefinition<any> =>
    defineService({
      name: "probe",
      description: "a UDP service for the test",
      channels: { udp: { kind: "udp", localPort: port, remotePort: 9, maxDatagramBytes: 512 } },
      schema: { entries: [], maxTotalBytes: 1024 },
      calf: { entry: "calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 1, burst: 1 } },
      privCapabilities: () => caps,
    });

  it("add what a service declares for its options (the NTP service's CAP_SYS_TIME with clock: system)", () => {
    const clockService = defineService({
      name: "clocky",
      description: "declares CAP_SYS_TIME as the NTP service does",
      channels: { udp: { kind: "udp", localPort: 0, remotePort: 123, maxDatagramBytes: 512 } },
      schema: { entries: [], maxTotalBytes: 1024 },
      calf: { entry: "calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 1, burst: 1 } },
      options: { clock: { description: "observe or system", kind: "string", default: "observe" } },
      privCapabilities: (o) => (o.clock === "system" ? ["CAP_SYS_TIME"] : []),
    });
    expect(serviceCapabilities(clockService, {})).toEqual([]);
    expect(serviceCapabilities(clockService, { clock: "system" })).toEqual(["CAP_SYS_TIME"]);
    expect(privCapabilities([serviceCapabilities(clockService, { clock: "system" })])).toContain("CAP_SYS_TIME");
    expect(privCapabilities([serviceCapabilities(clockService, {})])).not.toContain("CAP_SYS_TIME");
  });

  it("add CAP_NET_BIND_SERVICE for a UDP channel below port 1024, which is bound again when the interface returns", () => {
    expect(serviceCapabilities(udpService(546), {})).toEqual(["CAP_NET_BIND_SERVICE"]);
    expect(serviceCapabilities(udpService(0), {})).toEqual([]);
    expect(serviceCapabilities(udpService(1024), {})).toEqual([]);
  });

  it("refuse a declared name that is not a capability, in one sentence naming the service", () => {
    expect(() => serviceCapabilities(udpService(0, ["CAP_EVERYTHING"]), {})).toThrow(/the service probe asks for "CAP_EVERYTHING", which is not a capability/);
  });

  it("read back from a /proc status mask", () => {
    expect(capabilitiesInMask("0000000000203100")).toEqual(["CAP_SETPCAP", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]);
  });
});

const isRoot = process.getuid?.() === 0;
const addon = fileURLToPath(new URL("../../../native/build/Release/paddock_native.node", import.meta.url));
const haveStrace = spawnSync("strace", ["-V"]).status === 0;

describe.skipIf(!isRoot || !existsSync(addon))(`installed in a child Node (${isRoot ? "root" : "needs root"})`, () => {
  /** A child Node that sandboxes itself like the priv, then reports its /proc status and what its own children could do. */
  function sandboxedChild(): { status: Record<string, string>; strace: string; runc: number | null } {
    const program = Buffer.from(privSeccompProgram()).toString("base64");
    const keep = privCapabilities([[]]).map((c) => CAPABILITY_NAMES.indexOf(c));
    const script = `
      const a = require(${JSON.stringify(addon)});
      const { spawnSync } = require("node:child_process");
      const fs = require("node:fs");
      a.ignoreDebugSignal();
      let mask = 0n; for (const c of ${JSON.stringify(keep)}) mask |= 1n << BigInt(c);
      a.dropCapabilities(mask, Number(fs.readFileSync("/proc/sys/kernel/cap_last_cap", "utf8")));
      a.installSeccomp(Buffer.from(${JSON.stringify(program)}, "base64"));
      const strace = ${haveStrace} ? spawnSync("strace", ["-o", "/dev/null", "true"], { encoding: "utf8" }).stderr : "";
      const runc = spawnSync("runc", ["--version"]).status;
      console.log(JSON.stringify({ status: fs.readFileSync("/proc/self/status", "utf8"), strace, runc }));
    `;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: string; strace: string; runc: number | null };
    const status = Object.fromEntries(out.status.split("\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
    return { status, strace: out.strace, runc: out.runc };
  }

  it("leaves the kept capabilities, NoNewPrivs and the filter, which its children inherit: ptrace refused, the rest runs", () => {
    const { status, strace, runc } = sandboxedChild();
    expect(capabilitiesInMask(status.CapBnd!).sort()).toEqual([...privCapabilities([[]])].sort());
    expect(capabilitiesInMask(status.CapEff!).sort()).toEqual([...privCapabilities([[]])].sort());
    expect([status.CapInh, status.CapAmb, status.NoNewPrivs, status.Seccomp]).toEqual(["0000000000000000", "0000000000000000", "1", "2"]);
    if (haveStrace) expect(strace).toMatch(/ptrace.*(Operation not permitted|EPERM)/);
    expect(runc).toBe(0);
  });

  const tsx = fileURLToPath(new URL("../../../node_modules/.bin/tsx", import.meta.url));
  const sandboxModule = fileURLToPath(new URL("../src/priv-sandbox/index.ts", import.meta.url));
  /** sandboxPriv() in a child started by `setpriv` with this bounding set (capability names without CAP_, lower case). */
  function sandboxUnder(bounding: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    const script = `import { sandboxPriv } from ${JSON.stringify(sandboxModule)}; sandboxPriv([]); console.log(require("node:fs").readFileSync("/proc/self/status", "utf8"));`;
    return spawnSync("setpriv", ["--bounding-set", `-all,${bounding.map((c) => `+${c}`).join(",")}`, tsx, "-e", script], { encoding: "utf8" });
  }
  const kept = privCapabilities([[]]).map((c) => c.replace(/^CAP_/, "").toLowerCase());

  it.skipIf(spawnSync("setpriv", ["--version"]).status !== 0)("started without CAP_SETPCAP: works with a bounding set of only the kept ones (a generated unit's), and says what to do with one more", () => {
    const exact = sandboxUnder(kept);
    expect(exact.status, exact.stderr).toBe(0);
    expect(exact.stdout).toMatch(/^Seccomp:\s+2$/m);
    const more = sandboxUnder([...kept, "sys_module"]);
    expect(more.status).not.toBe(0);
    expect(more.stderr).toContain("the priv could not drop its capabilities (capset: EPERM): give it CAP_SETPCAP, or a bounding set of only what it keeps");
  }, 120_000);
});
