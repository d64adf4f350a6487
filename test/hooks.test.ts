/**
 * Hooks through the real priv (issue 13 A4, B8): `paddock dhcp --hooks-dir DIR` against dnsmasq
 * in a namespace lab, with a hook that records its environment (as the kernel handed it over),
 * its stdin and the interface's addresses at the moment it ran.
 *
 * - BOUND comes after the lease handler applied the lease: the hook already sees the address,
 *   and its variables hold the lease dnsmasq was told to give.
 * - Stopping without --release-on-exit gives STOP (the lease stays); with it, RELEASE after the
 *   address is gone, with the old values.
 * - A hostile calf cannot get a variable, a line or a command into a hook: what the store
 *   refuses never reaches one, and what it accepts arrives as one value per variable.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectKv } from "@paddock/kv";
import { canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab, type Netns, type PaddockProcess } from "@paddock/testkit";

const repoRoot = path.resolve(import.meta.dirname, "..");

/** What one hook run recorded. */
interface HookRun {
  readonly reason: string;
  readonly env: Record<string, string>;
  readonly stdin: string;
  /** `ip -4 -o addr show dev IFACE` when the hook ran. */
  readonly addrs: string;
}

/** A hooks directory with one recording hook, and a reader of its runs in order. */
function recordingHooks(lab: Lab): { dir: string; runs(): HookRun[] } {
  const dir = lab.file("hooks.d");
  const out = lab.file("hook-runs");
  mkdirSync(dir, { mode: 0o755 });
  mkdirSync(out);
  const hook = path.join(dir, "10-record");
  writeFileSync(
    hook,
    [
      "#!/bin/sh",
      `f="${out}/$$"`,
      // The environment exactly as the priv passed it (the shell may add its own variables later).
      `cat /proc/$$/environ > "$f.env"`,
      `cat > "$f.json"`,
      `ip -4 -o addr show dev "$PADDOCK_INTERFACE" > "$f.addr"`,
      // Written last: a run listed here is complete.
      `echo "$$" >> "${out}/order"`,
      "",
    ].join("\n"),
  );
  chmodSync(hook, 0o755);
  return {
    dir,
    runs: () => {
      const order = path.join(out, "order");
      if (!existsSync(order)) return [];
      return readFileSync(order, "utf8").trim().split("\n").map((pid) => {
        const env = Object.fromEntries(readFileSync(path.join(out, `${pid}.env`), "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
        return { reason: env.PADDOCK_REASON ?? "", env, stdin: readFileSync(path.join(out, `${pid}.json`), "utf8"), addrs: readFileSync(path.join(out, `${pid}.addr`), "utf8") };
      });
    },
  };
}

const reasons = (runs: HookRun[]) => runs.map((r) => r.reason);

/** Two namespaces, dnsmasq (no classless routes, so the router option is the default route), and the hooks. */
async function dhcpLab(): Promise<{ lab: Lab; client: Netns; iface: string; hooks: ReturnType<typeof recordingHooks> }> {
  const lab = createLab({ prefix: "pdhk" });
  labs.push(lab);
  const server = lab.namespace("server");
  const client = lab.namespace("client");
  const link = lab.veth(server, client, { addresses: { a: "10.84.0.1/24" } });
  await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer("10.84.0", { classless: [] }) });
  return { lab, client, iface: link.b.name, hooks: recordingHooks(lab) };
}

function shimArgs(lab: Lab, iface: string, hooksDir: string, extra: string[] = []): string[] {
  return ["dhcp", "--no-arp-probe", "--iface", iface, "--state-dir", lab.file("state"), "--runtime-dir", lab.file("run"), "--resolv-conf", lab.file("resolv.conf"), "--log-format", "json", "--hooks-dir", hooksDir, ...extra];
}

const labs: Lab[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await lab.destroy();
});

const fixedVariables = (env: Record<string, string>) => Object.keys(env).filter((k) => !k.startsWith("PADDOCK_")).sort();

describe.skipIf(!canCreateLabs)(`hooks run by the priv (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it("BOUND after the address is configured, with the lease's values; STOP when stopped, the lease kept", async () => {
    const { lab, client, iface, hooks } = await dhcpLab();
    writeFileSync(path.join(hooks.dir, "20-fails"), "#!/bin/sh\nprintf 'bad \\033[2J news\\n' >&2\nexit 3\n", { mode: 0o755 });
    writeFileSync(path.join(hooks.dir, "30-group-writable"), "#!/bin/sh\ntouch /tmp/pdhk-must-not-run\n");
    chmodSync(path.join(hooks.dir, "30-group-writable"), 0o775);
    const shim = startPaddock(lab, client, shimArgs(lab, iface, hooks.dir));
    const bound = await waitFor(() => hooks.runs().find((r) => r.reason === "BOUND"), { what: "the BOUND hook", timeoutMs: 30_000, abortOnExit: shim, state: () => reasons(hooks.runs()).join(" ") });
    const addr = await waitForAddress(lab, client, iface, "inet", { abortOnExit: shim });

    // The hook ran after the lease handler applied the lease: the address was there already.
    expect(bound.addrs).toContain(`inet ${addr.local}/24 `);
    expect(bound.env).toMatchObject({
      PADDOCK_SERVICE: "dhcp4",
      PADDOCK_INTERFACE: iface,
      PADDOCK_IP: addr.local,
      PADDOCK_PREFIX_LENGTH: "24",
      PADDOCK_GATEWAY: "10.84.0.1",
      PADDOCK_DNS: "10.84.0.1 10.84.0.53",
      PADDOCK_DOMAIN: "paddock.test",
      PADDOCK_SEARCH: "paddock.test example.test",
      PADDOCK_MTU: "1420",
      PADDOCK_SERVER: "10.84.0.1",
    });
    expect(Number(bound.env.PADDOCK_LEASE_EXPIRES)).toBeGreaterThan(Date.now() / 1000);
    expect(Object.keys(bound.env).filter((k) => k.startsWith("PADDOCK_OLD_"))).toEqual([]);
    expect(fixedVariables(bound.env)).toEqual(["PATH"]);
    expect(JSON.parse(bound.stdin)).toMatchObject({ service: "dhcp4", interface: iface, reason: "BOUND", lease: { ip: addr.local, prefixLength: 24, dns: ["10.84.0.1", "10.84.0.53"], search: ["paddock.test", "example.test"] }, old: null });

    // A hook that fails and one anyone in its group may change: logged by name, the output escaped.
    const failing = await shim.waitForEntry((e) => e.msg === "hook 20-fails (BOUND) exited with code 3", { what: "the failing hook's line", timeoutMs: 10_000 });
    expect(failing).toMatchObject({ level: expect.anything(), hook: "20-fails", code: "PADDOCK_E_HOOK_EXIT", exitCode: 3, stderr: ["bad \\x1b[2J news"] });
    const refused = shim.logEntries().filter((e) => String(e.msg).includes("30-group-writable"));
    expect(refused.map((e) => e.msg)).toEqual([expect.stringMatching(/the hook .*30-group-writable is writable by group or others \(mode 0775\).*refused/)]);
    expect(refused[0]).toMatchObject({ code: "PADDOCK_E_HOOK_REFUSED" });

    expect((await shim.stop()).code).toBe(0);
    const runs = hooks.runs();
    expect(reasons(runs)).toEqual(["BOUND", "STOP"]);
    expect(runs[1]!.env).toMatchObject({ PADDOCK_REASON: "STOP", PADDOCK_IP: addr.local });
    expect(runs[1]!.addrs).toContain(`inet ${addr.local}/24 `);
    expect(existsSync("/tmp/pdhk-must-not-run")).toBe(false);
  }, 90_000);

  it("RELEASE on stop with --release-on-exit, after the address is withdrawn, with the old values", async () => {
    const { lab, client, iface, hooks } = await dhcpLab();
    const shim = startPaddock(lab, client, shimArgs(lab, iface, hooks.dir, ["--release-on-exit"]));
    await waitFor(() => hooks.runs().find((r) => r.reason === "BOUND"), { what: "the BOUND hook", timeoutMs: 30_000, abortOnExit: shim, state: () => reasons(hooks.runs()).join(" ") });
    const addr = await waitForAddress(lab, client, iface, "inet", { abortOnExit: shim });

    expect((await shim.stop()).code).toBe(0);
    const runs = hooks.runs();
    expect(reasons(runs)).toEqual(["BOUND", "RELEASE"]);
    const release = runs[1]!;
    expect(release.addrs).toBe("");
    expect(release.env).toMatchObject({ PADDOCK_OLD_IP: addr.local, PADDOCK_OLD_GATEWAY: "10.84.0.1", PADDOCK_OLD_DOMAIN: "paddock.test" });
    expect(release.env.PADDOCK_IP).toBeUndefined();
    expect(JSON.parse(release.stdin)).toMatchObject({ reason: "RELEASE", lease: null, old: { ip: addr.local } });
  }, 90_000);

  it("EXPIRE when the lease is withdrawn while the service runs (an operator's kv del /ip), after the address is gone", async () => {
    const { lab, client, iface, hooks } = await dhcpLab();
    const shim = startPaddock(lab, client, shimArgs(lab, iface, hooks.dir));
    await waitFor(() => hooks.runs().find((r) => r.reason === "BOUND"), { what: "the BOUND hook", timeoutMs: 30_000, abortOnExit: shim, state: () => reasons(hooks.runs()).join(" ") });
    const addr = await waitForAddress(lab, client, iface, "inet", { abortOnExit: shim });

    const kv = await connectKv(path.join(lab.file("run"), `dhcp4-${iface}.sock`));
    try {
      await kv.delete("/ip");
    } finally {
      kv.close();
    }
    const expire = await waitFor(() => hooks.runs().find((r) => r.reason === "EXPIRE"), { what: "the EXPIRE hook", timeoutMs: 10_000, abortOnExit: shim, state: () => reasons(hooks.runs()).join(" ") });
    expect(expire.addrs).toBe("");
    expect(expire.env).toMatchObject({ PADDOCK_OLD_IP: addr.local, PADDOCK_OLD_PREFIX_LENGTH: "24" });
    expect(expire.env.PADDOCK_IP).toBeUndefined();
    expect(reasons(hooks.runs())).toEqual(["BOUND", "EXPIRE"]);
  }, 90_000);

  it("a hostile calf cannot inject a variable, a line or a command into a hook", async () => {
    const lab = createLab({ prefix: "pdhk" });
    labs.push(lab);
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: "10.84.0.1/24" } });
    const hooks = recordingHooks(lab);
    const shim: PaddockProcess = startPaddock(lab, client, shimArgs(lab, link.b.name, hooks.dir, ["--calf", path.join(repoRoot, "test/fixtures/hook-calf.ts")]));

    const report = await waitFor(async () => {
      const c = await connectKv(path.join(lab.file("run"), `dhcp4-${link.b.name}.sock`)).catch(() => undefined);
      if (!c) return undefined;
      try {
        return JSON.parse(await c.read("/state/report")) as Record<string, unknown>;
      } catch {
        return undefined;
      } finally {
        c.close();
      }
    }, { what: "the calf's report", timeoutMs: 60_000, abortOnExit: shim });
    expect(report).toEqual({
      domainNewline: "PADDOCK_E_KV_INVALID_VALUE",
      domainEquals: "PADDOCK_E_KV_INVALID_VALUE",
      domainShell: "PADDOCK_E_KV_INVALID_VALUE",
      searchNul: "PADDOCK_E_KV_INVALID_VALUE",
      searchLineSeparator: "PADDOCK_E_KV_INVALID_VALUE",
      searchSemicolon: "PADDOCK_E_KV_INVALID_VALUE",
      lease: "ok",
      done: true,
    });

    const bound = await waitFor(() => hooks.runs().find((r) => r.reason === "BOUND"), { what: "the BOUND hook", timeoutMs: 30_000, abortOnExit: shim });
    // Exactly the variables of the lease the store accepted, each one value, nothing else.
    expect(bound.env).toEqual({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      PADDOCK_SERVICE: "dhcp4",
      PADDOCK_INTERFACE: link.b.name,
      PADDOCK_REASON: "BOUND",
      PADDOCK_IP: "10.84.0.77",
      PADDOCK_PREFIX_LENGTH: "24",
      PADDOCK_GATEWAY: "10.84.0.1",
      PADDOCK_DNS: "10.84.0.53",
      PADDOCK_DOMAIN: "odd_name-1.test",
      PADDOCK_SEARCH: "_x.test a-b.test",
      PADDOCK_LEASE_EXPIRES: "0",
    });
    expect(bound.stdin.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(bound.stdin)).toMatchObject({ lease: { domain: "odd_name-1.test", search: ["_x.test", "a-b.test"] } });
    expect(existsSync("/tmp/pwned")).toBe(false);
    expect(readdirSync(lab.file("hook-runs")).filter((f) => f.endsWith(".env"))).toHaveLength(1);
    expect(shim.running).toBe(true);
  }, 120_000);
});
