/**
 * W^X in calves (issue 12 item 2 and its check in item 4): a small static C program
 * (test/fixtures/wx-probe.c) run by runc under a real Node calf's OCI config — the same seccomp
 * profile, user namespace, read-only root and mounts, only `process.args` changed — asks for
 * executable memory every way a JIT or an exploit would. Anonymous PROT_EXEC, writable
 * PROT_EXEC and mprotect/pkey_mprotect to PROT_EXEC get EPERM; plain memory and a read-only
 * executable mapping of a library file (what ld.so does at start) still work. The same probe
 * outside the profile gets everything, so each expectation can fail.
 *
 * That the real calves still run under the profile is shown by every namespace test that starts
 * one (test/priv-sandbox.test.ts, test/dhcp-shim-lease.test.ts, test/ntp-service.test.ts).
 * Needs root (runc) and gcc with a static libc. Skipped with a reason otherwise, never under CI=true.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { calfOciConfig, calfRootfsFiles, parseCalfName, resolveNodeRuntime, writeCalfBundle, type CalfName, type OciConfig } from "@paddock/runtime";
import { hasCommands, removeRuncContainers, runAsync } from "@paddock/testkit";

const isRoot = process.getuid?.() === 0;
const NEEDS = ["runc", "gcc"];
if (process.env.CI === "true" && !(isRoot && hasCommands(NEEDS))) throw new Error(`CI must run the W^X test as root with ${NEEDS.join(", ")}`);
const run = isRoot && hasCommands(NEEDS);
const skipReason = isRoot ? `needs ${NEEDS.join(", ")}` : "needs root (runc)";

const PROBE_SOURCE = fileURLToPath(new URL("./fixtures/wx-probe.c", import.meta.url));
/** Where the probe is mounted in the calf's root. */
const PROBE_PATH = "/wx-probe";
/** Bounds a hang only (runc on a busy machine). */
const TIMEOUT_MS = 60_000;

let dir: string | undefined;
afterEach(() => {
  if (!dir) return;
  removeRuncContainers(path.join(dir, "runc"));
  rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Compiles the probe (static: it needs nothing in the calf's root) into a directory the calf's uid can reach. */
function buildProbe(): string {
  dir = mkdtempSync(path.join(os.tmpdir(), "sbx-wx-"));
  chmodSync(dir, 0o711);
  const probe = path.join(dir, "wx-probe");
  const cc = spawnSync("gcc", ["-static", "-O2", "-o", probe, PROBE_SOURCE], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
  chmodSync(probe, 0o755);
  return probe;
}

/** "NAME result" lines → { NAME: result } ("ok" or an errno name). */
function results(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split("\n").filter(Boolean).map((l) => l.split(" ") as [string, string]));
}

describe.skipIf(!run)(`W^X in calves (${run ? "root" : skipReason})`, () => {
  it("refuses anonymous, writable and later-made executable memory under the calf's profile, and allows what ld.so does", async () => {
    const probe = buildProbe();
    const runtime = await resolveNodeRuntime();
    const library = runtime.libraries[0] ?? runtime.binary;

    // Outside the profile the probe gets everything: the expectations below are the profile's doing.
    const bare = spawnSync(probe, [library], { encoding: "utf8" });
    expect(results(bare.stdout)).toEqual({
      "mmap-anon-rw": "ok", "mmap-anon-rwx": "ok", "mmap-anon-rx": "ok", "mprotect-rx": "ok", "pkey_mprotect-rx": expect.stringMatching(/^(ok|ENOSYS|EINVAL)$/),
      "mmap-file-rx": "ok", "mmap-file-rwx": "ok",
    });

    const parsed = parseCalfName(`sbx-wx-${process.pid}`);
    if (!parsed.ok) throw parsed.error;
    const name: CalfName = parsed.value;
    const script = path.join(dir!, "calf.mjs");
    writeFileSync(script, "", { mode: 0o644 });
    const calf = calfOciConfig({ name, script, memoryBytes: 64 * 1024 * 1024, pids: 32 }, runtime);
    // The real calf's config with the probe as its process: same seccomp profile, namespaces, mounts.
    const config: OciConfig = {
      ...calf,
      process: { ...calf.process, args: [PROBE_PATH, library] },
      mounts: [...calf.mounts, { destination: PROBE_PATH, type: "bind", source: probe, options: ["rbind", "ro", "nosuid", "nodev"] }],
    };
    const bundle = path.join(dir!, "bundle");
    await writeCalfBundle(bundle, config, calfRootfsFiles(), name);
    const r = await runAsync("runc", ["--root", path.join(dir!, "runc"), "run", "--no-new-keyring", "--bundle", bundle, `sbx-wx-${process.pid}`], { timeoutMs: TIMEOUT_MS });
    expect(r.status, r.stderr).toBe(0);
    expect(results(r.stdout)).toEqual({
      "mmap-anon-rw": "ok",
      "mmap-anon-rwx": "EPERM",
      "mmap-anon-rx": "EPERM",
      "mprotect-rx": "EPERM",
      "pkey_mprotect-rx": "EPERM",
      "mmap-file-rx": "ok",
      "mmap-file-rwx": "EPERM",
    });
  }, 2 * TIMEOUT_MS);
});
