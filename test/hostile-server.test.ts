/**
 * `paddock dhcp` against a rogue DHCP server (test/fixtures/rogue-dhcp.mjs) in a namespace pair
 * (issue 13 C2, C5, C6): a lease on the subnet's network address, on the server's own address or
 * from server id 0.0.0.0 is refused with a warning naming the server and never applied; a lease
 * with routes to 127/8 and 224/4, a router equal to the leased address and malformed optional
 * options is applied without those parts. The unit-level suite is
 * packages/services/dhcp4/core/test/hostile-server.test.ts.
 */
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  addresses,
  canCreateLabs,
  createLab,
  LAB_SKIP_REASON,
  routes,
  startPaddock,
  waitForAddress,
  waitForUdpPort,
  type Lab,
  type LabProcess,
  type LogEntry,
  type NsRef,
  type PaddockProcess,
  type Veth,
} from "@paddock/testkit";
import { paddockBin, repoRoot } from "./helpers/paddock.ts";

const ROGUE = path.join(repoRoot, "test/fixtures/rogue-dhcp.mjs");
const NET = "10.93.0";
const SERVER_IP = `${NET}.1`;

describe.skipIf(!canCreateLabs)(`paddock dhcp against a rogue server (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let server: NsRef;
  let client: NsRef;
  let link: Veth;
  let running: Array<LabProcess | PaddockProcess> = [];
  let run = 0;

  beforeAll(() => {
    lab = createLab({ prefix: "pdkrog" });
    server = lab.namespace("server");
    client = lab.namespace("client");
    link = lab.veth(server, client, { addresses: { a: `${SERVER_IP}/24` } });
    // The rogue server broadcasts its replies to 255.255.255.255: give that a route out of the veth.
    lab.ip(server, ["route", "add", "default", "dev", link.a.name]);
  });

  afterEach(async () => {
    for (const p of running.reverse()) await p.stop();
    running = [];
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  async function start(scenario: string): Promise<{ rogue: LabProcess; shim: PaddockProcess }> {
    const rogue = lab.spawn(server, [process.execPath, ROGUE, scenario, SERVER_IP, NET], { name: `rogue-dhcp ${scenario}` });
    running.push(rogue);
    await waitForUdpPort(rogue, 67);
    run++;
    const shim = startPaddock(lab, client, [
      "dhcp", "--no-arp-probe", "--iface", link.b.name,
      "--state-dir", lab.file(`state${run}`), "--runtime-dir", lab.file(`run${run}`),
      "--admin-socket", lab.file(`admin${run}.sock`), "--resolv-conf", lab.file(`resolv${run}.conf`),
      "--log-format", "json",
    ], { bin: paddockBin });
    running.push(shim);
    return { rogue, shim };
  }

  const says = (text: string) => (e: LogEntry) => JSON.stringify(e).includes(text);

  async function ipv4On(ns: NsRef, iface: string): Promise<string[]> {
    return (await addresses(ns, iface, "inet")).map((a) => `${a.local}/${a.prefixlen}`);
  }

  const refusals: [string, string][] = [
    ["network", `ACK from ${SERVER_IP} ignored: yiaddr ${NET}.0 is the network or broadcast address of its /24 subnet`],
    ["server-address", `ACK from ${SERVER_IP} ignored: yiaddr ${SERVER_IP} is the server's own address`],
    ["zero-server", `ignored: server identifier 0.0.0.0 is not a unicast address`],
  ];
  for (const [scenario, warning] of refusals) {
    it(`refuses a lease (${scenario}) with a warning naming the server, and never applies it`, async () => {
      const { rogue, shim } = await start(scenario);
      await shim.waitForEntry(says(warning), { what: `the refusal "${warning}"` });
      expect(await ipv4On(client, link.b.name)).toEqual([]);
      // The client asks again; the second ACK is refused the same way and nothing is applied.
      await rogue.waitForLog(/sent ACK/, { occurrence: 2 });
      await shim.waitForEntry(says(warning), { what: "a second refusal", occurrence: 2 });
      expect(await ipv4On(client, link.b.name)).toEqual([]);
      expect(shim.logEntries().filter(says("/ip")).filter(says("refused"))).toEqual([]);
    });
  }

  it("applies a lease without its routes to 127/8 and 224/4, its router equal to the lease, and its malformed options", async () => {
    const { shim } = await start("routes");
    const addr = await waitForAddress(lab, client, link.b.name, "inet", { abortOnExit: shim });
    expect(`${addr.local}/${addr.prefixlen}`).toBe(`${NET}.50/24`);
    // Routes are applied with the address (one commit); poll until the kept one is visible.
    await expect.poll(async () => (await routes(client)).some((r) => r.dst === "192.168.77.0/24" && r.gateway === SERVER_IP)).toBe(true);
    const now = await routes(client);
    expect(now.filter((r) => /^(127|22[4-9]|23\d)\./.test(r.dst))).toEqual([]);
    expect(now.some((r) => r.dst === "default" && r.gateway === SERVER_IP)).toBe(true);
    expect(now.some((r) => r.gateway === `${NET}.50`)).toBe(false);
    for (const text of [
      `ACK from ${SERVER_IP}: route to 224.0.0.0/4 via ${SERVER_IP} dropped`,
      `ACK from ${SERVER_IP}: router ${NET}.50 dropped: it is the leased address`,
      `ACK from ${SERVER_IP}: malformed option 119 ignored`,
      `ACK from ${SERVER_IP}: malformed option 26 ignored`,
    ]) {
      expect(shim.logEntries().some(says(text)), text).toBe(true);
    }
  });
});
