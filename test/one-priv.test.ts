/**
 * Several services in ONE priv: `paddock run dhcp4 ./examples/heartbeat/service.ts
 * ./test/fixtures/lease-reader/service.ts --iface X`. Each has its own calf (real runc sandbox),
 * store, admin socket and tc egress program; the lease reader declares the DHCP lease's gateway as
 * an input (and its name servers) and reads it through its own store (/input/dhcp4/…), validated by its own schema.
 *
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectKv, KvClient } from "@paddock/kv";
import {
  canCreateLabs,
  createLab,
  defaultOffer,
  hasCommands,
  LAB_SKIP_REASON,
  startDnsmasq,
  startPaddock,
  startServer,
  waitFor,
  waitForAddress,
  type Lab,
  type Netns,
  type PaddockProcess,
  type Veth,
} from "@paddock/testkit";

const NEEDS = ["dnsmasq", "runc", "nsenter", "tc"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the one-priv test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

const repoRoot = path.resolve(import.meta.dirname, "..");
const HEARTBEAT = path.join(repoRoot, "examples/heartbeat/service.ts");
const READER = path.join(repoRoot, "test/fixtures/lease-reader/service.ts");
const SERVER = path.join(repoRoot, "test/fixtures/heartbeat-server.mjs");
/** Two builds as nobody, three calves and a lease: well under this unless something hangs. */
const TIMEOUT_MS = 45_000;

/** Reads keys through an admin socket (run from the test's own namespace: a Unix socket needs none). */
async function kvGet(socket: string, key: string): Promise<string | undefined> {
  const c = await connectKv(socket);
  try {
    return await c.read(key);
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

describe.skipIf(!run)(`dhcp4, heartbeat and a lease reader in one priv (${run ? "root" : skipReason})`, () => {
  let lab: Lab;
  let server: Netns;
  let client: Netns;
  let link: Veth;
  let priv: PaddockProcess;
  let runtimeDir: string;
  let stateRoot: string;
  const net = "10.84.0";

  beforeAll(async () => {
    lab = createLab({ prefix: "pdk1p" });
    server = lab.namespace("srv", { ipv6: false });
    client = lab.namespace("cli", { ipv6: false });
    link = lab.veth(server, client, { addresses: { a: `${net}.1/24` } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer(net) });
    await startServer(lab, server, {
      name: "heartbeat-server",
      argv: [process.execPath, SERVER, `${net}.1`],
      ready: (p, timeoutMs) => p.waitForLog(/listening/, { timeoutMs }),
    });
    runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    stateRoot = lab.file("state");
    priv = startPaddock(lab, client, [
      "run", "dhcp4", HEARTBEAT, READER, "--set", "dhcp4.arp-probe=false", "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", stateRoot,
      "--set", `dhcp4.resolv-conf=${lab.file("resolv.conf")}`, "--set", `heartbeat.peer=${net}.1`, "--set", "heartbeat.interval-ms=200",
    ], { name: "paddock run (three services)" });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("runs the three services, each with its own calf, store and tc program, in one process", async () => {
    await priv.waitForLog(/reader started on /, { timeoutMs: TIMEOUT_MS });
    const a = await waitForAddress(lab, client, link.b.name, "inet", { timeoutMs: TIMEOUT_MS });
    expect(a.local.startsWith(`${net}.`)).toBe(true);
    const status = path.join(stateRoot, "heartbeat", "status.json");
    await waitFor(() => {
      try {
        return (JSON.parse(readFileSync(status, "utf8")) as { last?: unknown }).last !== undefined;
      } catch {
        return false;
      }
    }, { what: "the heartbeat's first answered ping in its status file", timeoutMs: TIMEOUT_MS, state: () => priv.output.slice(-2000) });
    const filters = lab.exec(client, ["tc", "filter", "show", "dev", link.b.name, "egress"]).split("\n").filter((l) => / bpf /.test(l) && /handle /.test(l));
    expect(filters, filters.join("\n")).toHaveLength(3);
    expect(new Set(filters.map((l) => /handle (\S+)/.exec(l)![1])).size).toBe(3);
    for (const service of ["dhcp4", "heartbeat", "reader"]) {
      expect(priv.output).toMatch(new RegExp(`${service} started on ${link.b.name}`));
    }
    // One process: a single priv pid owns every service's interface lock.
    const pids = ["dhcp4", "heartbeat", "reader"].map((s) => readFileSync(path.join(runtimeDir, `${s}-${link.b.name}.pid`), "utf8").trim().split(/\s/)[0]);
    expect(new Set(pids).size).toBe(1);
  }, 2 * TIMEOUT_MS);

  it("mirrors the DHCP lease's gateway and name servers into the reader's store, where its calf reads them", async () => {
    const readerSocket = path.join(runtimeDir, `reader-${link.b.name}.sock`);
    const dhcpSocket = path.join(runtimeDir, `dhcp4-${link.b.name}.sock`);
    const gateway = await kvGet(dhcpSocket, "/gateway");
    expect(gateway).toBe(defaultOffer(net).router);
    await waitFor(async () => (await kvGet(readerSocket, "/seen/gateway")) === gateway, {
      what: "the lease reader's calf to publish the gateway it read through its input",
      timeoutMs: TIMEOUT_MS,
      state: () => priv.output.slice(-2000),
    });
    expect(await kvGet(readerSocket, "/input/dhcp4/gateway")).toBe(gateway);
    const nameserver = await kvGet(dhcpSocket, "/nameserver/001");
    expect(nameserver).toBeDefined();
    expect(await kvGet(readerSocket, "/input/dhcp4/nameserver/001")).toBe(nameserver);
    // Only the declared keys cross: the lease's address does not.
    expect(await kvGet(readerSocket, "/input/dhcp4/ip")).toBeUndefined();
  }, 2 * TIMEOUT_MS);

  it("stops every service and removes every tc program", async () => {
    expect((await priv.stop()).code).toBe(0);
    const filters = lab.exec(client, ["tc", "filter", "show", "dev", link.b.name, "egress"]).split("\n").filter((l) => / bpf /.test(l));
    expect(filters).toEqual([]);
  });
});
