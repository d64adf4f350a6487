/**
 * `paddock ra --temporary-addresses` (issue 11 item 2, RFC 8981): the stable RFC 7217 address is
 * added with IFA_F_MANAGETEMPADDR and use_tempaddr = 2, so the kernel makes a temporary address on
 * the same prefix (flag "temporary" in `ip -j -6 addr`, lifetimes no longer than the prefix's) and
 * retires it with the stable one. At stop use_tempaddr gets its previous value back.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, ipJson, LAB_SKIP_REASON, startPaddock, startRadvd, waitFor, type Lab, type Netns, type PaddockProcess } from "@paddock/testkit";

const TIMEOUT_MS = 30_000;

interface Addr6 { local: string; prefixlen: number; temporary?: boolean; mngtmpaddr?: boolean; valid_life_time: number; scope?: string }

describe.skipIf(!canCreateLabs)(`paddock ra --temporary-addresses (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let client: Netns;
  let iface: string;
  let ra: PaddockProcess;
  let original: string;

  beforeAll(async () => {
    lab = createLab({ prefix: "ra6" });
    const router = lab.namespace("router");
    client = lab.namespace("client");
    lab.sysctl(router, { "net.ipv6.conf.all.forwarding": "1" });
    const link = lab.veth(router, client);
    iface = link.b.name;
    original = lab.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.use_tempaddr`]).trim();
    const runtimeDir = path.join(lab.dir, "run");
    mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
    ra = startPaddock(lab, client, ["ra", "--iface", iface, "--temporary-addresses", "--state-dir", path.join(lab.dir, "state"), "--runtime-dir", runtimeDir, "--admin-socket", path.join(lab.dir, "ra.sock"), "--resolv-conf", "", "--log-format", "json"]);
    await ra.waitForLog(/RA client started/, { timeoutMs: TIMEOUT_MS });
    await startRadvd(lab, router, { iface: link.a.name, prefix: "2001:db8:8::/64", readyTimeoutMs: TIMEOUT_MS });
  }, 3 * TIMEOUT_MS);

  afterAll(async () => {
    await lab?.destroy();
  });

  const global6 = () => ipJson<Array<{ addr_info: Addr6[] }>>(client, ["-6", "addr", "show", "dev", iface])[0]!.addr_info.filter((a) => a.scope === "global");
  const sysctl = (leaf: string) => lab.exec(client, ["sysctl", "-n", `net.ipv6.conf.${iface}.${leaf}`]).trim();

  it("the kernel makes a temporary address beside the stable one, and use_tempaddr is given back at stop", async () => {
    const both = await waitFor(() => {
      const a = global6();
      return a.some((x) => x.mngtmpaddr) && a.some((x) => x.temporary) ? a : undefined;
    }, { what: "a stable (mngtmpaddr) and a temporary address", timeoutMs: TIMEOUT_MS, abortOnExit: ra, state: () => JSON.stringify(global6()) });
    const stable = both.find((x) => x.mngtmpaddr)!;
    const temp = both.find((x) => x.temporary)!;
    expect(stable.local.startsWith("2001:db8:8:")).toBe(true);
    expect(temp.local.startsWith("2001:db8:8:")).toBe(true);
    expect(temp.local).not.toBe(stable.local);
    expect(temp.valid_life_time).toBeLessThanOrEqual(stable.valid_life_time);
    expect(sysctl("use_tempaddr")).toBe("2");
    await ra.stop();
    expect(sysctl("use_tempaddr")).toBe(original);
  }, 2 * TIMEOUT_MS);
});
