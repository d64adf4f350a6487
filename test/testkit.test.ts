/**
 * The kit's own tests (@paddock/testkit, docs/testkit.md): unique names, cleanup when a test
 * throws and when its process is interrupted or killed, and every server it starts reached from
 * another namespace by an independent client (busybox udhcpc, chronyd -Q, the kernel's SLAAC).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  calfEngineLaneArgs,
  canCreateLabs,
  createLab,
  defaultOffer,
  defaultRegistryDir,
  LAB_SKIP_REASON,
  MAX_IFNAME_BYTES,
  removeLeftovers,
  startChrony,
  startDnsmasq,
  startIscDhcpd,
  startKea4,
  startPaddock,
  startRadvd,
  startServer,
  startUdhcpd,
  TestkitError,
  waitFor,
  waitForAddress,
  waitForNetlinkSubscription,
  type Lab,
  type Veth,
} from "@paddock/testkit";

const repoRoot = path.resolve(import.meta.dirname, "..");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(spawnSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }).stdout);
  } catch {
    return false;
  }
};

/** Runs a script that uses the kit in a child Node process; resolves with what it printed first (one JSON line). */
function childLab(script: string): { child: ReturnType<typeof spawn>; info: Promise<{ id: string; ns: string; pid: number; dir: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const info = new Promise<{ id: string; ns: string; pid: number; dir: string }>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before reporting its lab: ${err}`)));
  });
  return { child, info };
}

/** A child that makes a lab with a namespace and a long-running process in it, reports them, and waits. */
const LAB_THAT_WAITS = (prefix: string) => `
  import { createLab } from "@paddock/testkit";
  const lab = createLab({ prefix: "${prefix}" });
  const ns = lab.namespace("a");
  const p = lab.spawn(ns, ["sleep", "1000"]);
  console.log(JSON.stringify({ id: lab.id, ns: ns.name, pid: p.pid, dir: lab.dir }));
  setInterval(() => {}, 1000);
`;

describe.skipIf(!canCreateLabs)(`@paddock/testkit labs (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });

  it("gives every lab, namespace and interface a unique name within the kernel's limits", () => {
    lab = createLab({ prefix: "tku" });
    const other = createLab({ prefix: "tku" });
    try {
      expect(other.id).not.toBe(lab.id);
      const a = lab.namespace("x");
      const b = other.namespace("x");
      expect(a.name).not.toBe(b.name);
      const v1 = lab.veth(a, a);
      const v2 = other.veth(b, b);
      const names = [v1.a.name, v1.b.name, v2.a.name, v2.b.name];
      expect(new Set(names).size).toBe(4);
      for (const n of names) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(MAX_IFNAME_BYTES);
      expect(existsSync(a.path) && existsSync(b.path)).toBe(true);
    } finally {
      other.destroySync();
    }
    expect(() => createLab({ prefix: "much-too-long-prefix" })).toThrow(TestkitError);
  });

  it("destroys everything when the test body throws, and destroy() is idempotent", async () => {
    const l = createLab({ prefix: "tkt" });
    let seen: { ns: string; pid: number; dir: string } | undefined;
    const body = async () => {
      const ns = l.namespace("a");
      const p = l.spawn(ns, ["sleep", "1000"]);
      seen = { ns: ns.path, pid: p.pid!, dir: l.dir };
      throw new Error("the test failed");
    };
    try {
      await expect(body()).rejects.toThrow("the test failed");
    } finally {
      await l.destroy();
    }
    await l.destroy();
    expect(seen).toBeDefined();
    expect(existsSync(seen!.ns)).toBe(false);
    expect(alive(seen!.pid)).toBe(false);
    expect(existsSync(seen!.dir)).toBe(false);
    expect(readdirSync(defaultRegistryDir()).filter((f) => f.startsWith(l.id))).toEqual([]);
    expect(() => l.namespace("b")).toThrow(/already destroyed/);
  });

  it("cleans up when the test process throws uncaught or gets SIGTERM", async () => {
    const thrown = childLab(LAB_THAT_WAITS("tkx").replace("setInterval(() => {}, 1000);", "setTimeout(() => { throw new Error('uncaught'); }, 10);"));
    const sigterm = childLab(LAB_THAT_WAITS("tks"));
    const [a, b] = await Promise.all([thrown.info, sigterm.info]);
    sigterm.child.kill("SIGTERM");
    const exits = await Promise.all([thrown.child, sigterm.child].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode ?? c.signalCode) : c.once("exit", (code, sig) => r(code ?? sig))))));
    expect(exits).toEqual([1, "SIGTERM"]);
    for (const info of [a, b]) {
      expect(existsSync(`/run/netns/${info.ns}`)).toBe(false);
      expect(existsSync(info.dir)).toBe(false);
      await waitFor(() => !alive(info.pid), { what: `pid ${info.pid} to be gone`, timeoutMs: 5000 });
    }
  });

  it("removes what a SIGKILLed run of the same prefix left behind, and spares live runs", async () => {
    const killed = childLab(LAB_THAT_WAITS("tkk"));
    const live = childLab(LAB_THAT_WAITS("tkk"));
    const [dead, running] = await Promise.all([killed.info, live.info]);
    try {
      killed.child.kill("SIGKILL");
      await new Promise((r) => killed.child.once("exit", r));
      // Nothing ran on the way out: the namespace, the process and the directory are all still there.
      expect(existsSync(`/run/netns/${dead.ns}`)).toBe(true);
      expect(alive(dead.pid)).toBe(true);
      expect(existsSync(dead.dir)).toBe(true);

      const report = removeLeftovers("tkk");
      expect(report.labs).toEqual([dead.id]);
      expect(report.namespaces).toEqual([dead.ns]);
      expect(report.pids).toContain(dead.pid);
      expect(report.dirs).toEqual([dead.dir]);
      expect(existsSync(`/run/netns/${dead.ns}`)).toBe(false);
      expect(existsSync(dead.dir)).toBe(false);
      await waitFor(() => !alive(dead.pid), { what: `pid ${dead.pid} to be gone`, timeoutMs: 5000 });
      // The live run of the same prefix is untouched.
      expect(existsSync(`/run/netns/${running.ns}`)).toBe(true);
      expect(alive(running.pid)).toBe(true);
    } finally {
      live.child.kill("SIGTERM");
      await new Promise((r) => (live.child.exitCode !== null ? r(null) : live.child.once("exit", r)));
    }
    expect(existsSync(`/run/netns/${running.ns}`)).toBe(false);
    expect(existsSync(path.join(tmpdir(), path.basename(running.dir)))).toBe(false);
  });

  it("waitFor names what it awaited and the last state it saw", async () => {
    let n = 0;
    const err = await waitFor(() => (n++, false), { what: "the impossible", timeoutMs: 50, state: () => `${n} polls` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestkitError);
    expect((err as TestkitError).code).toBe("PADDOCK_E_TESTKIT_TIMEOUT");
    expect((err as Error).message).toMatch(/waiting for the impossible; last seen: \d+ polls/);
  });

  it("a server that is not installed fails with a clear error, and one that exits fails its readiness wait", async () => {
    lab = createLab({ prefix: "tkm" });
    const ns = lab.namespace("a");
    const missing = await startServer(lab, ns, { name: "nope", argv: ["paddock-testkit-no-such-server"], ready: async () => undefined }).catch((e: unknown) => e);
    expect((missing as TestkitError).code).toBe("PADDOCK_E_TESTKIT_MISSING_COMMAND");
    const exits = await startDnsmasq(lab, ns, { iface: "no-such-if" }).catch((e: unknown) => e);
    expect((exits as TestkitError).code).toBe("PADDOCK_E_TESTKIT_EXITED");
    expect((exits as Error).message).toMatch(/dnsmasq .*exited/);
  });

  it("knows when an ip monitor has subscribed, so the next event is not missed", async () => {
    lab = createLab({ prefix: "tkw" });
    const ns = lab.namespace("a");
    const { a } = lab.veth(ns, ns);
    const monitor = lab.spawn(null, ["ip", "-n", ns.name, "monitor", "address"], { name: "ip monitor" });
    await waitForNetlinkSubscription(monitor);
    lab.ip(ns, ["addr", "add", "10.85.0.1/24", "dev", a.name]);
    expect(await monitor.waitForLog(/10\.85\.0\.1\/24/)).toContain(a.name);
  });

  describe("servers reached from another namespace", () => {
    /** A server namespace with NET.1/24 and a client namespace (with `clientAddress` if given), joined by a veth pair. */
    function pair(prefix: string, net: string, clientAddress?: string): { lab: Lab; link: Veth } {
      lab = createLab({ prefix });
      const link = lab.veth(lab.namespace("server"), lab.namespace("client"), { addresses: { a: `${net}.1/24`, b: clientAddress } });
      return { lab, link };
    }

    it.each([
      { kind: "dnsmasq", start: startDnsmasq },
      { kind: "kea", start: startKea4 },
      { kind: "isc-dhcpd", start: startIscDhcpd },
      { kind: "udhcpd", start: startUdhcpd },
    ])("$kind hands busybox udhcpc a lease from the offer", async ({ start }) => {
      const { lab, link } = pair("tkd", "10.86.0");
      const offer = defaultOffer("10.86.0", { rangeStart: "10.86.0.150", rangeEnd: "10.86.0.160" });
      const server = await start(lab, link.a.ns, { iface: link.a.name, offer });
      expect(server.running).toBe(true);
      const r = await lab.run(link.b.ns, ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-i", link.b.name, "-s", "/bin/true"]);
      expect(`${r.stdout}${r.stderr}`).toMatch(/lease of 10\.86\.0\.1(5\d|60) obtained/);
      const exit = await server.stop();
      expect(server.running).toBe(false);
      expect(exit.code === 0 || exit.signal === "SIGTERM" || exit.code === 143).toBe(true);
    });

    it("chrony serves NTP that chronyd -Q in the other namespace can measure", async () => {
      const { lab, link } = pair("tkn", "10.87.0", "10.87.0.2/24");
      await startChrony(lab, link.a.ns);
      const r = await lab.run(link.b.ns, ["chronyd", "-Q", "-t", "10", "-u", "root", "-f", "/dev/null", "server 10.87.0.1 iburst maxsamples 1"]);
      expect(`${r.stdout}${r.stderr}`).toMatch(/System clock wrong by -?\d+\.\d+ seconds/);
    });

    it("radvd advertises a prefix the client namespace configures by SLAAC", async () => {
      const { lab, link } = pair("tkr", "10.88.0");
      await startRadvd(lab, link.a.ns, { iface: link.a.name, prefix: "2001:db8:88::/64" });
      const addr = await waitForAddress(lab, link.b.ns, link.b.name, "inet6", { timeoutMs: 20_000 });
      expect(addr.local).toMatch(/^2001:db8:88:0?:/);
      expect(addr.prefixlen).toBe(64);
    });

    it("paddock dhcp in the client namespace gets its address from dnsmasq", async () => {
      const { lab, link } = pair("tkp", "10.89.0");
      const dnsmasq = await startDnsmasq(lab, link.a.ns, { iface: link.a.name, offer: defaultOffer("10.89.0") });
      const shim = startPaddock(lab, link.b.ns, [
        "dhcp", "--no-arp-probe", "--iface", link.b.name, "--state-dir", lab.file("state"), "--runtime-dir", lab.file("run"),
        "--resolv-conf", lab.file("resolv.conf"), "--log-format", "json",
      ]);
      const addr = await waitForAddress(lab, link.b.ns, link.b.name, "inet", { abortOnExit: shim });
      expect(addr.local).toMatch(/^10\.89\.0\.(1\d\d|200)$/);
      expect(addr.prefixlen).toBe(24);
      expect(shim.logEntries().length).toBeGreaterThan(0);
      await dnsmasq.waitForLog(new RegExp(`DHCPACK\\(${link.a.name}\\) ${addr.local.replace(/\./g, "\\.")}`));
      const exit = await shim.stop();
      expect(exit.code).toBe(0);
    });
  });
});

describe("the calf engine lane (PADDOCK_TEST_CALF_ENGINE)", () => {
  const lane = (args: string[]) => calfEngineLaneArgs(args, { PADDOCK_TEST_CALF_ENGINE: "quickjs" });
  it("adds --calf-engine to the commands that run built-in calves", () => {
    for (const args of [["dhcp", "--iface", "e"], ["ntp", "--iface", "e"], ["ra", "--iface", "e"], ["dhcp6", "--iface", "e"], ["run", "ra", "dhcp6", "--iface", "e"]]) {
      expect(lane(args), args.join(" ")).toEqual(["--calf-engine", "quickjs"]);
    }
  });
  it("leaves alone a choice of the test's own, a custom calf or calf folder, a service given by path, other commands, and an unset lane", () => {
    expect(lane(["dhcp", "--iface", "e", "--calf-engine", "node"])).toEqual([]);
    expect(lane(["dhcp", "--iface", "e", "--calf-engine=node"])).toEqual([]);
    expect(lane(["dhcp", "--iface", "e", "--calf", "/tmp/calf.mjs"])).toEqual([]);
    expect(lane(["run", "./service.ts", "--iface", "e"])).toEqual([]);
    expect(lane(["run", "/srv/built", "ra", "--iface", "e"])).toEqual([]);
    expect(lane(["status", "e"])).toEqual([]);
    expect(calfEngineLaneArgs(["dhcp6", "--iface", "e"], { PADDOCK_TEST_CALF_ENGINE: "quickjs", PADDOCK_CALF_DIR: "/tmp/calves" })).toEqual([]);
    expect(calfEngineLaneArgs(["ra", "--iface", "e"], {})).toEqual([]);
  });
});
