/**
 * The interface's life under `paddock dhcp` (issue 13 A1), in namespaces against dnsmasq: a client
 * end that is down at start is set up and gets a lease; a carrier loss and regain (the server's
 * end set down and up) makes the client confirm its lease at once (a REQUEST, not a wait for T1)
 * and keep its address; the client's interface deleted and re-created under the same name is
 * picked up again (a new lease, the old index's tc filter and packet socket gone, exactly one of
 * each on the new one); and a shim started before its interface exists waits for it, then leases.
 *
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  addresses,
  canCreateLabs,
  createLab,
  defaultOffer,
  LAB_SKIP_REASON,
  listCalfContainers,
  startDnsmasq,
  startPaddock,
  waitFor,
  waitForAddress,
  type Lab,
  type LabProcess,
  type LogEntry,
  type Netns,
  type PaddockProcess,
  type ServerOffer,
} from "@paddock/testkit";
import { paddockBin } from "./helpers/paddock.ts";

/** A lease on a veth takes well under a second; 15 s is a hang. */
const LEASE_TIMEOUT_MS = 15_000;

const says = (text: string) => (e: LogEntry) => typeof e.msg === "string" && e.msg.includes(text);

/** Figures printed after the suite: the shim's own log times, not the test's clock. */
const figures: string[] = [];
const msBetween = (from: LogEntry, to: LogEntry) => Number(to.time) - Number(from.time);

interface Net {
  lab: Lab;
  server: Netns;
  client: Netns;
  offer: ServerOffer;
  /** The veth ends' names: fixed, so the pair can be re-created under them. */
  serverIf: string;
  clientIf: string;
  leaseFile: string;
  /** Side namespaces made so far (plugIn). */
  sides: number;
}

function net(lab: Lab, subnet: string): Net {
  const ifname = lab.ifname();
  return {
    lab,
    server: lab.namespace("server"),
    client: lab.namespace("client"),
    offer: defaultOffer(subnet),
    serverIf: `${ifname}s`,
    clientIf: `${ifname}c`,
    leaseFile: lab.file("dnsmasq.leases"),
    sides: 0,
  };
}

/** Creates (or re-creates) the veth pair between server and client, the server's end addressed. */
function connect(n: Net, opts: { clientUp?: boolean; clientMac?: string } = {}): { clientMac: string } {
  const veth = n.lab.veth(n.server, n.client, {
    names: { a: n.serverIf, b: n.clientIf },
    addresses: { a: `${n.offer.server}/${n.offer.prefixLen}` },
    up: { b: opts.clientUp ?? true },
    ...(opts.clientMac ? { macs: { b: opts.clientMac } } : {}),
  });
  return { clientMac: veth.b.mac };
}

function dnsmasq(n: Net): Promise<LabProcess> {
  return startDnsmasq(n.lab, n.server, { iface: n.serverIf, offer: n.offer, leaseFile: n.leaseFile });
}

/**
 * Hot-plugs the client's interface where a shim already watches for it: the pair is made with the
 * client's end in a side namespace, dnsmasq starts on the server's end, and only then is the
 * client's end moved into the client's namespace (an RTM_NEWLINK there, down, as a new interface
 * arrives). So the shim's first message finds a server that listens, and no retransmission backoff
 * decides how long the test takes.
 */
async function plugIn(n: Net, opts: { clientMac?: string } = {}): Promise<LabProcess> {
  const side = n.lab.namespace(`side${++n.sides}`);
  // Indexes are per namespace and a moved interface keeps its own where it is free: a veth pair
  // made first (this kernel has no dummy driver) makes the client's end arrive under a new index,
  // as a re-created interface does.
  n.lab.ip(side, ["link", "add", "pad0", "type", "veth", "peer", "name", "pad1"]);
  n.lab.veth(n.server, side, {
    names: { a: n.serverIf, b: n.clientIf },
    addresses: { a: `${n.offer.server}/${n.offer.prefixLen}` },
    up: { b: false },
    ...(opts.clientMac ? { macs: { b: opts.clientMac } } : {}),
  });
  const server = await dnsmasq(n);
  n.lab.ip(side, ["link", "set", n.clientIf, "netns", n.client.name]);
  return server;
}

function shim(n: Net, extra: string[] = []): PaddockProcess {
  return startPaddock(n.lab, n.client, [
    "dhcp", "--no-arp-probe", "--iface", n.clientIf,
    "--state-dir", n.lab.file("state"), "--runtime-dir", n.lab.file("run"),
    "--admin-socket", n.lab.file("admin.sock"), "--resolv-conf", n.lab.file("resolv.conf"),
    "--log-format", "json", ...extra,
  ], { bin: paddockBin });
}

function ifindex(n: Net): number {
  return n.lab.ipJson<Array<{ ifindex: number }>>(n.client, ["link", "show", "dev", n.clientIf])[0]!.ifindex;
}

/** The interface indexes of the packet sockets open in the client's namespace (/proc/net/packet's Iface column). */
function packetSocketIndexes(n: Net): number[] {
  const table = n.lab.exec(n.client, ["cat", "/proc/net/packet"]).trim().split("\n").slice(1);
  return table.map((line) => Number(line.trim().split(/\s+/)[4]));
}

/** The tc egress filters on the client's interface: `tc filter show` prints a line per priority, then one with "handle" per filter. */
function egressFilters(n: Net): string[] {
  return n.lab.exec(n.client, ["tc", "filter", "show", "dev", n.clientIf, "egress"]).split("\n").filter((l) => l.startsWith("filter ") && l.includes(" handle "));
}

/** The first lease of a shim: its address, once the handler applied all of it. */
async function firstLease(n: Net, proc: PaddockProcess): Promise<string> {
  const a = await waitForAddress(n.lab, n.client, n.clientIf, "inet", { abortOnExit: proc, timeoutMs: LEASE_TIMEOUT_MS }).catch((err: Error) => {
    throw new Error(`${err.message}; shim output:\n${proc.tail(6000)}`);
  });
  await proc.waitForEntry(says("handler lease applied"), { what: "the lease applied", timeoutMs: LEASE_TIMEOUT_MS });
  return a.local;
}

/** Waits until `address` is the only IPv4 address on the client's interface. */
async function onlyAddress(n: Net, proc: PaddockProcess, address: string): Promise<void> {
  let seen: string[] = [];
  await waitFor(async () => {
    seen = (await addresses(n.client, n.clientIf)).map((a) => a.local);
    return seen.length === 1 && seen[0] === address;
  }, { what: `${address} alone on ${n.clientIf}`, timeoutMs: LEASE_TIMEOUT_MS, abortOnExit: proc, state: () => JSON.stringify(seen) });
}

describe.skipIf(!canCreateLabs)(`the interface's life under paddock dhcp (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });
  afterAll(() => {
    if (figures.length > 0) console.log(`link-lifecycle figures:\n  ${figures.join("\n  ")}`);
  });

  it("sets a down interface up at start and gets a lease on it", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.71.0");
    connect(n, { clientUp: false });
    await dnsmasq(n);
    expect(lab.ipJson<Array<{ flags: string[] }>>(n.client, ["link", "show", "dev", n.clientIf])[0]!.flags).not.toContain("UP");
    const p = shim(n);
    await p.waitForEntry(says(`${n.clientIf} was down: set it up`), { what: "the link-up line" });
    const address = await firstLease(n, p);
    expect(address.startsWith("10.71.0.")).toBe(true);
    expect(lab.ipJson<Array<{ flags: string[] }>>(n.client, ["link", "show", "dev", n.clientIf])[0]!.flags).toContain("UP");
  });

  it("leaves a down interface down with --no-link-up", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.72.0");
    connect(n, { clientUp: false });
    await dnsmasq(n);
    const p = shim(n, ["--no-link-up"]);
    // The calf is told the link is down: it waits, and says so.
    // The interface is set up (or not) before the calf starts.
    await p.waitForEntry(says("DHCP client started"), { what: "the calf's start", timeoutMs: LEASE_TIMEOUT_MS });
    expect(p.logEntries().filter(says("set it up"))).toEqual([]);
    expect(lab.ipJson<Array<{ flags: string[] }>>(n.client, ["link", "show", "dev", n.clientIf])[0]!.flags).not.toContain("UP");
    // The administrator sets it up: the lease follows.
    lab.ip(n.client, ["link", "set", n.clientIf, "up"]);
    await firstLease(n, p);
  });

  it("after a carrier loss, confirms the lease at once when the carrier returns, and keeps the address", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.73.0");
    connect(n);
    const server = await dnsmasq(n);
    const p = shim(n);
    const address = await firstLease(n, p);
    const requestLine = new RegExp(`DHCPREQUEST\\(${n.serverIf}\\) ${address.replaceAll(".", "\\.")}`);
    const requestsBefore = server.lines(requestLine).length;

    lab.ip(n.server, ["link", "set", n.serverIf, "down"]);
    await p.waitForEntry((e) => says("link changed")(e) && e.carrier === false, { what: "the carrier loss" });
    await p.waitForEntry(says("link down"), { what: "the client to notice the link is down" });
    // While the carrier is down nothing is sent: no refused or failed sends, and the address stays.
    expect((await addresses(n.client, n.clientIf)).map((a) => a.local)).toEqual([address]);

    lab.ip(n.server, ["link", "set", n.serverIf, "up"]);
    // The lease runs 600 s (T1 at 300 s): a REQUEST within the hang bound is the carrier's doing.
    await server.waitForLog(requestLine, { occurrence: requestsBefore + 1, timeoutMs: LEASE_TIMEOUT_MS });
    const bound = await p.waitForEntry(says("REBOOTING → BOUND"), { what: "the lease confirmed", timeoutMs: LEASE_TIMEOUT_MS });
    const regained = p.logEntries().find((e) => says("link changed")(e) && e.carrier === true);
    if (regained) figures.push(`carrier regained → lease confirmed: ${msBetween(regained, bound)} ms`);
    expect((await addresses(n.client, n.clientIf)).map((a) => a.local)).toEqual([address]);
    expect(p.logEntries().filter((e) => says("could not send")(e) || says("refused a frame")(e) || says("receive error")(e))).toEqual([]);
  });

  it("picks the interface up again after it is deleted and re-created: old tc filter and packet socket gone, same lease confirmed", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.74.0");
    const { clientMac } = connect(n);
    let server = await dnsmasq(n);
    const p = shim(n);
    const address = await firstLease(n, p);
    const oldIndex = ifindex(n);
    expect(packetSocketIndexes(n)).toEqual([oldIndex]);
    expect(egressFilters(n)).toHaveLength(1);

    // Deleting one end of a veth deletes the pair: the server's end goes too.
    lab.ip(n.client, ["link", "del", n.clientIf]);
    await p.waitForEntry(says(`${n.clientIf} is gone`), { what: "the interface's removal" });
    await waitFor(() => packetSocketIndexes(n).length === 0, { what: "the packet socket of the deleted interface to close", timeoutMs: 10_000, state: () => JSON.stringify(packetSocketIndexes(n)) });
    await server.stop();

    server = await plugIn(n, { clientMac });
    const back = await p.waitForEntry(says(`${n.clientIf} is back`), { what: "the interface's return" });
    const newIndex = ifindex(n);
    expect(newIndex).not.toBe(oldIndex);
    // Same MAC: the calf confirms the lease it holds (INIT-REBOOT), and gets the same address.
    const confirmed = await p.waitForEntry(says("REBOOTING → BOUND"), { what: "the lease confirmed on the new interface", timeoutMs: LEASE_TIMEOUT_MS });
    figures.push(`re-created interface (same MAC) back → lease confirmed: ${msBetween(back, confirmed)} ms`);
    await onlyAddress(n, p, address);
    expect(packetSocketIndexes(n)).toEqual([newIndex]);
    expect(egressFilters(n)).toHaveLength(1);
    expect(p.running).toBe(true);
    expect(p.logEntries().filter(says("calf exited"))).toEqual([]);
  });

  it("starts over with a fresh lease when the interface returns with another MAC", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.75.0");
    connect(n, { clientMac: "02:00:0a:4b:00:01" });
    let server = await dnsmasq(n);
    const p = shim(n);
    const old = await firstLease(n, p);
    lab.ip(n.client, ["link", "del", n.clientIf]);
    await p.waitForEntry(says(`${n.clientIf} is gone`), { what: "the interface's removal" });
    const gone = p.logEntries().length;
    await server.stop();
    server = await plugIn(n, { clientMac: "02:00:0a:4b:00:02" });
    // The priv forgets the old MAC's lease in the commit that records the new MAC (issue 13 A8) ...
    await p.waitForEntry(says(`held the lease of ${n.clientIf} (02:00:0a:4b:00:01)`), { what: "the old MAC's lease forgotten", timeoutMs: LEASE_TIMEOUT_MS });
    await p.waitForEntry(says("calf restarted on request"), { what: "the calf's restart for the new MAC", timeoutMs: LEASE_TIMEOUT_MS });
    const ack = await server.waitForLog(/DHCPACK\(\S+\) (\S+) 02:00:0a:4b:00:02/, { timeoutMs: LEASE_TIMEOUT_MS });
    const fresh = /DHCPACK\(\S+\) (\S+) /.exec(ack)![1]!;
    await onlyAddress(n, p, fresh);
    // ... so no handler ever applied the old address to the new interface, not even briefly.
    if (fresh !== old) expect(p.logEntries().slice(gone).filter((e) => String(e.msg).includes(`add ${old}/`))).toEqual([]);
  });

  it("stops cleanly on SIGTERM while it waits for its interface: exit 0, its locks and calf gone", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.77.0");
    const p = shim(n);
    await p.waitForEntry(says(`waiting for ${n.clientIf} to appear`), { what: "the waiting line" });
    const exit = await p.stop();
    expect(exit.code, p.tail()).toBe(0);
    expect(p.logEntries().filter(says(`stopped while waiting for ${n.clientIf} to appear`))).toHaveLength(1);
    // Nothing runs under its container runtime's root (runc's or crun's), and a new shim on the interface is not refused as a second one.
    expect(listCalfContainers(lab.file("run"))).toEqual([]);
    const again = shim(n);
    await again.waitForEntry(says(`waiting for ${n.clientIf} to appear`), { what: "the second shim's waiting line" });
  });

  it("waits for an interface that does not exist yet, then gets a lease on it", async () => {
    lab = createLab({ prefix: "pdlk" });
    const n = net(lab, "10.76.0");
    const p = shim(n);
    const waiting = await p.waitForEntry(says(`waiting for ${n.clientIf} to appear`), { what: "the waiting line" });
    expect(waiting.level).toBe(40);
    expect(p.running).toBe(true);
    await plugIn(n);
    await p.waitForEntry(says(`${n.clientIf} appeared`), { what: "the interface's appearance" });
    const address = await firstLease(n, p);
    expect(address.startsWith("10.76.0.")).toBe(true);
  });
});
