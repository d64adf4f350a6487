/**
 * The NTP service end to end (issue 10 items 2–4): `paddock ntp` in a client namespace, its calf
 * under runc, against three real chronyd servers on the other side of a veth, one of them lying by
 * 2 s (libfaketime). All three serve the same machine clock (namespaces share it), so the truth
 * is an offset of 0: the service, observing only, must select the honest ones, mark the liar as
 * falseticker, and publish an estimate within a few ms of 0 — and the clock handler, in observe
 * mode, must report it touched nothing. chronyd runs with -x: it never touches the clock either.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { connectKv, type KvClient } from "@paddock/kv";
import { startPaddockNtp } from "./ntp-lab.ts";
import { canCreateLabs, createLab, defaultOffer, findPaddockBin, LAB_SKIP_REASON, runAsync, startChrony, startDnsmasq, startPaddock, waitFor, type Lab, type NsRef, type PaddockProcess } from "@paddock/testkit";

const NET = "10.171.0";
const HONEST = [`${NET}.1`, `${NET}.2`, `${NET}.3`];
const LIAR = `${NET}.4`;
/** The start burst needs 8 samples at 2 s per source, then selection: ~20 s; bound hangs well above. */
const TIMEOUT_MS = 60_000;
/**
 * Bounds the wait for the first adjustment: it follows the start burst (seconds), or, when the
 * burst's replies came too far apart to make one round (a loaded machine, stress-ng beside the
 * suite), the next poll 64 s later (minpoll 6). A bound for a hang only.
 */
const FIRST_ADJUSTMENT_MS = TIMEOUT_MS + 64_000;

/** chronyd serving its (the machine's) clock on `address` only, optionally shifted by libfaketime. */
function chronyOn(lab: Lab, ns: NsRef, address: string, fakeTime?: string) {
  return startChrony(lab, ns, { address, ...(fakeTime ? { fakeTime } : {}), readyTimeoutMs: 20_000 });
}

describe.skipIf(!canCreateLabs)(`paddock ntp against chronyd, one server lying by 2 s (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let ntp: PaddockProcess;
  let kv: KvClient | undefined;

  beforeAll(async () => {
    lab = createLab({ prefix: "pdnt" });
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: `${HONEST[0]}/24`, b: `${NET}.100/24` } });
    for (const a of [...HONEST.slice(1), LIAR]) lab.ip(server, ["addr", "add", `${a}/24`, "dev", link.a.name]);
    for (const a of HONEST) await chronyOn(lab, server, a);
    await chronyOn(lab, server, LIAR, "+2s");
    ({ ntp, kv } = await startPaddockNtp(lab, client, link.b.name, [...HONEST, LIAR], { timeoutMs: TIMEOUT_MS }));
  }, 90_000);

  afterAll(async () => {
    kv?.close();
    await lab?.destroy();
  });

  const read = async (path: string) => {
    try {
      return await kv!.read(path);
    } catch {
      return undefined;
    }
  };
  /** Each source's address → state, from the calf's published status. */
  const states = async () => {
    const out: Record<string, string> = {};
    for (let i = 0; i < 4; i++) {
      const address = await read(`/source/00${i}/address`);
      const state = await read(`/source/00${i}/state`);
      if (address && state) out[address] = state;
    }
    return out;
  };

  it("selects the honest servers, marks the liar falseticker, and estimates within a few ms of 0", async () => {
    // The handler's report follows the first adjustment: the burst is over and selection ran.
    await waitFor(async () => (await read("/clock/applied/result")) !== undefined, { what: "the clock handler's first report", timeoutMs: FIRST_ADJUSTMENT_MS, abortOnExit: ntp, state: () => ntp.tail() });
    const seen = await waitFor(
      async () => {
        const s = await states();
        return s[LIAR] === "falseticker" && HONEST.every((h) => s[h] === "selected" || s[h] === "candidate") ? s : undefined;
      },
      { what: "three truechimers and one falseticker", timeoutMs: TIMEOUT_MS, abortOnExit: ntp, state: () => ntp.tail() },
    );
    expect(Object.values(seen).filter((s) => s === "selected")).toHaveLength(1);
    const offset = Number(await read("/adjustment/offset"));
    const liarOffset = Number(await read(`/source/003/offset`));
    console.log(`ntp figures: estimate ${(offset * 1e3).toFixed(3)} ms, the liar measured at ${liarOffset.toFixed(6)} s, max error ${await read("/adjustment/max-error")} s`);
    expect(Math.abs(offset)).toBeLessThan(0.005);
    expect(liarOffset).toBeGreaterThan(1.9);
    expect(liarOffset).toBeLessThan(2.1);
  }, FIRST_ADJUSTMENT_MS + 2 * TIMEOUT_MS);

  it("the clock handler observed: nothing removed, no refusal, and it says what it would do", async () => {
    expect(await read("/clock/applied/result")).toBe("observed");
    expect(await read("/clock/applied/offset")).toBe("0.000000000");
    expect(await read("/clock/applied/code")).toBe("none");
    await ntp.waitForLog(/clock observe: would (slew|step)/, { timeoutMs: TIMEOUT_MS });
  });
});

describe.skipIf(!canCreateLabs)(`paddock ntp: a step past the panic limit is refused (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;

  afterAll(async () => {
    await lab?.destroy();
  });

  it("with the only server 2 s ahead and --panic-seconds 1, the handler refuses with PADDOCK_E_CLOCK_PANIC", async () => {
    lab = createLab({ prefix: "pdnt" });
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: `${NET}.1/24`, b: `${NET}.100/24` } });
    await chronyOn(lab, server, `${NET}.1`, "+2s");
    const runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const ntp = startPaddock(lab, client, [
      "ntp", "--iface", link.b.name, "--server", `${NET}.1`, "--panic-seconds", "1",
      "--state-dir", lab.file("state"), "--runtime-dir", runtimeDir, "--admin-socket", lab.file("ntp.sock"), "--log-format", "json",
    ]);
    const line = await ntp.waitForLog(/PADDOCK_E_CLOCK_PANIC/, { timeoutMs: FIRST_ADJUSTMENT_MS });
    expect(line).toMatch(/beyond the panic limit of 1 s/);
    const kv = await connectKv(lab.file("ntp.sock"));
    try {
      // The log line comes first; the report is committed right after it.
      await waitFor(async () => (await kv.read("/clock/applied/result").catch(() => undefined)) === "refused", { what: "the handler's report of the refusal", timeoutMs: 10_000 });
      expect(await kv.read("/clock/applied/code")).toBe("PADDOCK_E_CLOCK_PANIC");
      expect(Number(await kv.read("/adjustment/offset"))).toBeGreaterThan(1.9);
      expect(await kv.read("/adjustment/step")).toBe("true");
    } finally {
      kv.close();
    }
  }, FIRST_ADJUSTMENT_MS + 2 * TIMEOUT_MS);
});

describe.skipIf(!canCreateLabs)(`paddock run dhcp4 ntp: the servers come from the DHCP lease (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;

  afterAll(async () => {
    await lab?.destroy();
  });

  it("with no server configured, the NTP calf polls the lease's option 42 server through the declared input", async () => {
    lab = createLab({ prefix: "pdnt" });
    const server = lab.namespace("server", { ipv6: false });
    const client = lab.namespace("client", { ipv6: false });
    const link = lab.veth(server, client, { addresses: { a: `${NET}.1/24` } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer(NET), extraArgs: [`--dhcp-option=option:ntp-server,${NET}.1`] });
    await chronyOn(lab, server, `${NET}.1`);
    const runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const priv = startPaddock(lab, client, [
      "run", "dhcp4", "ntp", "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", lab.file("state"),
      "--set", "dhcp4.arp-probe=false", "--set", `dhcp4.resolv-conf=${lab.file("resolv.conf")}`,
    ], { name: "paddock run dhcp4 ntp" });
    const kv = await waitFor(async () => connectKv(path.join(runtimeDir, `ntp-${link.b.name}.sock`)).catch(() => undefined), { what: "the ntp admin socket", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state: () => priv.tail() });
    try {
      const read = (p: string) => kv.read(p).catch(() => undefined);
      await waitFor(async () => (await read("/input/dhcp4/ntp/001")) === `${NET}.1`, { what: "the lease's NTP server mirrored into the ntp store", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state: () => priv.tail() });
      await waitFor(async () => (await read("/source/000/address")) === `${NET}.1` && Number((await read("/source/000/reach")) ?? 0) > 0, { what: "the NTP calf to reach the lease's server", timeoutMs: TIMEOUT_MS, abortOnExit: priv, state: () => priv.tail() });
      expect(await read("/config/server/000")).toBeUndefined();
      // paddock status shows the source and its reach (the service's own status function).
      const bin = findPaddockBin();
      const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin] : [bin];
      const r = await runAsync(argv[0]!, [...argv.slice(1), "status", link.b.name, "--service", "ntp", "--runtime-dir", runtimeDir, "--json"], { timeoutMs: 30_000 });
      const ntpStatus = (JSON.parse(r.stdout) as { services: Array<{ status: { sources: Array<{ address: string; reach: string }> } }> }).services[0]!.status;
      expect(ntpStatus.sources[0]).toMatchObject({ address: `${NET}.1` });
      expect(Number(ntpStatus.sources[0]!.reach)).toBeGreaterThan(0);
    } finally {
      kv.close();
    }
  }, 2 * TIMEOUT_MS);
});

describe.skipIf(!canCreateLabs)(`paddock lab ntp (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it("shows the liar as falseticker and the honest servers selected or candidates, then removes its namespaces", async () => {
    const bin = findPaddockBin();
    const argv = /\.[cm]?js$/.test(bin) ? [process.execPath, bin] : [bin];
    const r = await runAsync(argv[0]!, [...argv.slice(1), "lab", "ntp", "--timeout", String(FIRST_ADJUSTMENT_MS / 1000)], { timeoutMs: FIRST_ADJUSTMENT_MS + TIMEOUT_MS });
    expect(r.stdout).toMatch(/^10\.78\.0\.4\s+falseticker\s/m);
    for (const h of ["10.78.0.1", "10.78.0.2", "10.78.0.3"]) expect(r.stdout).toMatch(new RegExp(`^${h.replaceAll(".", "\\.")}\\s+(selected|candidate)\\s`, "m"));
    expect(r.stdout).toMatch(/clock handler: observed/);
    const removed = /removed the namespaces (\S+) and (\S+) /.exec(r.stdout);
    expect(removed).not.toBeNull();
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    expect(left).not.toContain(removed![1]!);
    expect(left).not.toContain(removed![2]!);
  }, FIRST_ADJUSTMENT_MS + 2 * TIMEOUT_MS);
});
