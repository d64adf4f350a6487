/**
 * The NTP service against ntpsec's ntpd (issue 10 item 5), in namespaces: chronyd (`-x`) serves
 * the machine's clock on one address, ntpsec's ntpd synchronizes to it and serves on another, and
 * `paddock ntp --clock observe` (its calf under runc) must reach and select both, see ntpd one
 * stratum below chronyd, and estimate an offset near 0 (all serve the same machine clock).
 *
 * ntpd must never touch the clock. ntpsec's `disable ntp` would leave it unsynchronized (it then
 * answers with LI 3, which no client uses), so it runs its discipline with CAP_SYS_TIME removed
 * from its bounding set (setpriv): every clock write it tries fails with EPERM. (Traced with
 * strace: at start it calls clock_adjtime with modes ≠ 0 even with `disable kernel`, and later
 * adjtime; each fails.) ntpsec's package conflicts with chrony's (both provide time-daemon), so
 * scripts/setup.sh unpacks its ntpd under NTPSEC_DIR instead of installing it.
 *
 * busybox ntpd is not tested: Debian's busybox and busybox-static are built without the applet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, writeFileSync } from "node:fs";
import type { KvClient } from "@paddock/kv";
import { startPaddockNtp } from "./ntp-lab.ts";
import { canCreateLabs, createLab, LAB_SKIP_REASON, startChrony, waitFor, waitForUdpPort, type Lab, type LabProcess, type NsRef, type PaddockProcess } from "@paddock/testkit";

const NET = "10.174.0";
const CHRONY = `${NET}.1`;
const NTPSEC = `${NET}.2`;
const CLIENT = `${NET}.100`;
/** Where scripts/setup.sh unpacks ntpsec's package (ntpd on PATH is used first when it is ntpsec's). */
export const NTPSEC_DIR = "/opt/paddock-test/ntpsec";
/**
 * ntpd's own start and sync (iburst, 4 samples), then paddock's burst and selection (~16 s); on a
 * starved machine a burst that lost replies leaves the estimate to the next round, a 64 s poll later.
 */
const TIMEOUT_MS = 120_000;

/** ntpsec's ntpd: unpacked by setup, or on PATH. */
export function ntpsecNtpd(): string {
  const unpacked = `${NTPSEC_DIR}/usr/sbin/ntpd`;
  if (existsSync(unpacked)) return unpacked;
  throw new Error(`ntpsec's ntpd is not at ${unpacked}: run scripts/setup.sh as root (it unpacks the Debian package ntpsec there)`);
}

/**
 * ntpsec's ntpd serving on `address` in `ns`, synchronized to `upstream`, unable to change the
 * clock (no CAP_SYS_TIME); resolves once it has bound port 123.
 */
async function startNtpsec(lab: Lab, ns: NsRef, address: string, upstream: string): Promise<LabProcess> {
  const conf = lab.uniqueFile("ntpsec", ".conf");
  writeFileSync(conf, [
    `server ${upstream} iburst minpoll 4 maxpoll 4`,
    "disable kernel",
    "interface ignore wildcard",
    `interface listen ${address}`,
    "restrict default",
    "",
  ].join("\n"));
  const p = lab.spawn(ns, ["setpriv", "--bounding-set", "-sys_time", ntpsecNtpd(), "-n", "-c", conf, "-p", lab.uniqueFile("ntpd", ".pid")], { name: `ntpsec ntpd ${address}` });
  await waitForUdpPort(p, 123, 20_000);
  return p;
}

describe.skipIf(!canCreateLabs)(`paddock ntp against chronyd and ntpsec's ntpd (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let ntp: PaddockProcess;
  let ntpd: LabProcess;
  let kv: KvClient | undefined;

  beforeAll(async () => {
    lab = createLab({ prefix: "pdnh" });
    const server = lab.namespace("server", { ipv6: false });
    const client = lab.namespace("client", { ipv6: false });
    const link = lab.veth(server, client, { addresses: { a: [`${CHRONY}/24`, `${NTPSEC}/24`], b: `${CLIENT}/24` } });
    await startChrony(lab, server, { address: CHRONY, readyTimeoutMs: 20_000 });
    ntpd = await startNtpsec(lab, server, NTPSEC, CHRONY);
    // ntpd answers with LI 3 until it has synchronized; ntpdig (which never sets the clock) refuses those.
    await waitFor(async () => ((await lab.run(client, ["ntpdig", "-t", "2", NTPSEC], { timeoutMs: 10_000 })).status === 0 ? true : undefined), {
      what: "ntpsec's ntpd to synchronize to chronyd", timeoutMs: TIMEOUT_MS, abortOnExit: ntpd, state: () => ntpd.tail(),
    });
    ({ ntp, kv } = await startPaddockNtp(lab, client, link.b.name, [CHRONY, NTPSEC], { timeoutMs: TIMEOUT_MS }));
  }, 2 * TIMEOUT_MS);

  afterAll(async () => {
    kv?.close();
    await lab?.destroy();
  });

  const read = (p: string) => kv!.read(p).catch(() => undefined);

  it("selects chronyd and ntpsec's ntpd, sees ntpd a stratum below chronyd, and estimates within a few ms of 0", async () => {
    const seen = await waitFor(
      async () => {
        const s = [await read("/source/000/state"), await read("/source/001/state")];
        return (await read("/clock/applied/result")) !== undefined && s.every((x) => x === "selected" || x === "candidate") ? s : undefined;
      },
      { what: "both servers selected or candidates, and the handler's first report", timeoutMs: TIMEOUT_MS, abortOnExit: ntp, state: () => ntp.tail() },
    );
    expect(seen.filter((s) => s === "selected")).toHaveLength(1);
    expect(await read("/source/001/address")).toBe(NTPSEC);
    expect(Number(await read("/source/001/reach"))).toBeGreaterThan(0);
    // chronyd's local clock is stratum 8; ntpd synchronized to it is 9: the replies are ntpd's own.
    expect(await read("/source/000/stratum")).toBe("8");
    expect(await read("/source/001/stratum")).toBe("9");
    const ntpdOffset = Number(await read("/source/001/offset"));
    const offset = Number(await read("/adjustment/offset"));
    console.log(`ntp interop figures: ntpsec's ntpd measured at ${(ntpdOffset * 1e3).toFixed(3)} ms, delay ${await read("/source/001/delay")} s; estimate ${(offset * 1e3).toFixed(3)} ms`);
    expect(Math.abs(ntpdOffset)).toBeLessThan(0.005);
    expect(Math.abs(offset)).toBeLessThan(0.005);
    expect(await read("/clock/applied/result")).toBe("observed");
  }, 2 * TIMEOUT_MS);

  it("ntpd could not change the clock: each of its attempts was refused", () => {
    // Its discipline tried (a slew within the first samples) and the kernel said no.
    expect(ntpd.output).toMatch(/Operation not permitted/);
    expect(ntpd.running).toBe(true);
  });
});
