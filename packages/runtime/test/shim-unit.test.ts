import { describe, expect, it } from "vitest";
import { waitFor } from "@paddock/testkit";
import { calfNameFor } from "../src/calf-name.ts";
import { parseCalfName } from "../src/sandbox/bundle.ts";

describe("calfNameFor", () => {
  it("gives each service and interface its own valid calf name", () => {
    const names = ["eth0", "enp0s31f6", "eth0.100", "br_lan", "ETH0", "wlan-guest", "a".repeat(15)].map((i) => calfNameFor("dhcp4", i, undefined));
    expect(names[0]).toBe("dhcp4-eth0");
    expect(calfNameFor("echo", "eth0", undefined)).toBe("echo-eth0");
    // The same name in another network namespace is another calf.
    expect(calfNameFor("dhcp4", "eth0", "1a2b")).toBe("dhcp4-eth0-1a2b");
    // The longest service name, the longest interface name and a namespace tag still fit, apart.
    const long = ["a".repeat(14) + "b", "a".repeat(14) + "c"].map((i) => calfNameFor("abcdefghij", i, "ffff"));
    expect(new Set(long).size).toBe(2);
    for (const n of long) expect(parseCalfName(n).ok, n).toBe(true);
    expect(parseCalfName(calfNameFor("dhcp4", "a".repeat(15) + ".", "ffff")).ok).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(parseCalfName(n).ok, n).toBe(true);
  });
});

describe("cachedNodeRuntime", () => {
  it("remembers ldd's answer only while the binary and its libraries are the same files", async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const { cachedNodeRuntime, resolveNodeRuntime } = await import("../src/sandbox/bundle.ts");
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-ldd-"));
    try {
      const fresh = await resolveNodeRuntime(process.execPath);
      expect(await cachedNodeRuntime(process.execPath, dir)).toEqual(fresh);
      const file = path.join(dir, "node-runtime.json");
      const cache = JSON.parse(readFileSync(file, "utf8")) as { runtime: { libraries: string[] }; stamps: Array<{ mtimeMs: number }> };
      expect(cache.stamps.length).toBe(fresh.libraries.length + 1);
      // A cache that claims a library the system does not have is not believed while its stamps differ.
      cache.runtime.libraries = [...cache.runtime.libraries.slice(0, -1), "/nonexistent/libfake.so"];
      cache.stamps[cache.stamps.length - 1]!.mtimeMs = 1;
      writeFileSync(file, JSON.stringify(cache));
      expect(await cachedNodeRuntime(process.execPath, dir)).toEqual(fresh);
      expect(JSON.parse(readFileSync(file, "utf8")).runtime).toEqual(fresh);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("acquirePidLock", () => {
  it("is exclusive while a paddock process holds it, and taken over from a dead one", async () => {
    const { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const { spawn } = await import("node:child_process");
    const { acquirePidLock, LockedError } = await import("../src/pid-lock.ts");
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-lock-"));
    const file = path.join(dir, "x.pid");
    // A live process whose command line names paddock holds it.
    const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 10000)", "paddock-lock-holder"], { stdio: "ignore" });
    try {
      // The lock tells a paddock process by its command line: wait until the holder has exec'd node.
      await waitFor(() => {
        try {
          return readFileSync(`/proc/${holder.pid}/cmdline`, "utf8").includes("paddock-lock-holder");
        } catch {
          return false;
        }
      }, { what: "the lock holder's command line" });
      writeFileSync(file, `${holder.pid}\n`);
      expect(() => acquirePidLock(file)).toThrow(LockedError);
      // A pid that is not a paddock process (ours is vitest) or no longer exists is stale.
      writeFileSync(file, "999999999\n");
      const lock = acquirePidLock(file);
      expect(readFileSync(file, "utf8").trim()).toBe(String(process.pid));
      lock.release();
      expect(existsSync(file)).toBe(false);
      // release() never removes a lock someone else has taken since.
      const again = acquirePidLock(file);
      writeFileSync(file, `${holder.pid}\n`);
      again.release();
      expect(existsSync(file)).toBe(true);
    } finally {
      holder.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
