/**
 * The client core against a real server: dnsmasq in one network namespace, the client (through
 * the throwaway UDP runtime in client-udp-runner.ts, encoding with our codec) in another, joined
 * by a veth pair. Covers DORA, a renewal unicast to the server at the server's T1, RELEASE, and
 * rapid commit.
 *
 * Needs root (namespaces). Skips with a reason otherwise, but never under CI=true. Every process
 * started is killed by pid and every namespace deleted in afterEach, even when a test fails.
 */

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Teardown } from "../../../../../test/helpers/netns.ts";

const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === "true";
const ROOT = fileURLToPath(new URL("../../../../../", import.meta.url));
const RUNNER = fileURLToPath(new URL("./client-udp-runner.ts", import.meta.url));
const TSX = join(ROOT, "node_modules/.bin/tsx");
/** Servers here answer in milliseconds; a lease and one 3 s renewal fit well within this. */
const WAIT_MS = 15_000;

let counter = 0;
const teardown = new Teardown();
const { children, namespaces, paths: dirs } = teardown;

afterEach(() => teardown.run());

function inNs(ns: string, cmd: string[]): void {
  execFileSync("nsenter", [`--net=/run/netns/${ns}`, ...cmd], { stdio: "ignore", timeout: 10_000 });
}

interface Net {
  server: string;
  client: string;
  serverIf: string;
  clientIf: string;
  mac: string;
  dir: string;
}

function makeNet(): Net {
  const id = `${process.pid % 100000}${counter++}`;
  const net: Net = {
    server: `pdcs${id}`,
    client: `pdcc${id}`,
    serverIf: `vds${id}`,
    clientIf: `vdc${id}`,
    mac: "02:aa:00:00:00:01",
    dir: mkdtempSync(join(tmpdir(), "paddock-dhcp-client-")),
  };
  dirs.push(net.dir);
  for (const ns of [net.server, net.client]) {
    execFileSync("ip", ["netns", "add", ns]);
    namespaces.push(ns);
  }
  execFileSync("ip", ["link", "add", net.serverIf, "type", "veth", "peer", "name", net.clientIf, "address", net.mac]);
  execFileSync("ip", ["link", "set", net.serverIf, "netns", net.server]);
  execFileSync("ip", ["link", "set", net.clientIf, "netns", net.client]);
  inNs(net.server, ["ip", "addr", "add", "10.99.0.1/24", "dev", net.serverIf]);
  inNs(net.server, ["ip", "link", "set", net.serverIf, "up"]);
  inNs(net.client, ["ip", "link", "set", net.clientIf, "up"]);
  // A kernel UDP socket needs a route to send to 255.255.255.255 before any address exists.
  inNs(net.client, ["ip", "route", "add", "default", "dev", net.clientIf]);
  return net;
}

/** Spawns `cmd` in a namespace, collecting its output lines. */
function spawnIn(ns: string, cmd: string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn("nsenter", [`--net=/run/netns/${ns}`, ...cmd], { stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  const lines: string[] = [];
  let partial = "";
  const onData = (b: Buffer): void => {
    partial += b.toString();
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return { child, lines };
}

async function waitFor(what: string, lines: string[], test: (line: string) => boolean): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const hit = lines.find(test);
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}; output:\n${lines.join("\n")}`);
}

function startDnsmasq(net: Net, extra: string[]): Promise<{ lines: string[]; leaseFile: string }> {
  const leaseFile = join(net.dir, "leases");
  const { lines } = spawnIn(net.server, [
    "dnsmasq", "--no-daemon", "--no-ping", "--port=0", "--log-dhcp", `--interface=${net.serverIf}`, "--bind-interfaces",
    "--conf-file=/dev/null", `--dhcp-leasefile=${leaseFile}`, `--pid-file=${join(net.dir, "pid")}`,
    "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,2m", ...extra,
  ]);
  return waitFor("dnsmasq", lines, (l) => l.includes("sockets bound exclusively")).then(() => ({ lines, leaseFile }));
}

function startClient(net: Net): { child: ChildProcess; lines: string[] } {
  return spawnIn(net.client, [TSX, RUNNER, net.clientIf, net.mac]);
}

const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return {};
  }
};

const skipReason = !isRoot && !inCi ? "(skipped: needs root for network namespaces)" : "";

describe.skipIf(skipReason !== "")(`client against dnsmasq ${skipReason}`, () => {
  it("runs as root (CI must not skip this file)", () => {
    expect(isRoot).toBe(true);
  });

  it("leases, renews unicast at the server's T1 rewriting only what changed, and releases", async () => {
    const net = makeNet();
    const server = await startDnsmasq(net, ["--dhcp-option=option:T1,3", "--dhcp-option=option:T2,5"]);
    const client = startClient(net);
    await waitFor("BOUND", client.lines, (l) => json(l).state === "BOUND");
    const ip = client.lines.map(json).find((o) => o.kvWrite === "/ip")?.value;
    expect(ip).toMatch(/^10\.99\.0\.(5\d|60)\/24$/);
    expect(client.lines.map(json).find((o) => o.kvWrite === "/gateway")?.value).toBe("10.99.0.1");
    // The RFC 4361 client id (255, IAID = last 4 MAC bytes, DUID-LL) is what dnsmasq keyed the lease on.
    expect(readFileSync(server.leaseFile, "utf8")).toContain(`${String(ip).split("/")[0]} paddock-test ff:00:00:00:01:00:03:00:01:02:aa:00:00:00:01`);

    const bound = client.lines.length;
    await waitFor("renewal", client.lines, (l) => (json(l).log as string | undefined)?.startsWith("RENEWING → BOUND") === true);
    const renewal = client.lines.slice(bound).map(json);
    expect(renewal.find((o) => o.send === 3)).toEqual({ send: 3, to: "10.99.0.1", ciaddr: String(ip).split("/")[0], flags: 0 });
    expect(renewal.filter((o) => o.kvWrite !== undefined).map((o) => o.kvWrite)).toEqual(["/lease/expires", "/state/lease"]);
    expect(server.lines.filter((l) => l.includes("DHCPACK")).length).toBeGreaterThanOrEqual(2);

    client.child.stdin?.write("stop\n");
    await waitFor("STOPPED", client.lines, (l) => json(l).state === "STOPPED");
    await waitFor("dnsmasq's RELEASE", server.lines, (l) => l.includes("DHCPRELEASE"));
    expect(client.lines.map(json).filter((o) => o.kvDelete !== undefined).map((o) => o.kvDelete)).toEqual(["/ip", "/gateway", "/hostname", "/lease/expires", "/state/lease"]);
  }, 30_000);

  it("takes a rapid-commit ACK straight from SELECTING (RFC 4039)", async () => {
    const net = makeNet();
    const server = await startDnsmasq(net, ["--dhcp-rapid-commit"]);
    const client = startClient(net);
    await waitFor("BOUND", client.lines, (l) => json(l).state === "BOUND");
    const states = client.lines.map(json).filter((o) => o.state !== undefined).map((o) => o.state);
    expect(states).toEqual(["SELECTING", "BOUND"]);
    expect(client.lines.map(json).filter((o) => o.send !== undefined).map((o) => o.send)).toEqual([1]);
    expect(server.lines.some((l) => l.includes("DHCPOFFER"))).toBe(false);
  }, 30_000);
});
