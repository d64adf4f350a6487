/**
 * The client core against a real server: dnsmasq in one network namespace, the client (through
 * the throwaway UDP runtime in client-udp-runner.ts, encoding with our codec) in another, joined
 * by a veth pair. Covers DORA, a renewal unicast to the server at the server's T1, RELEASE, and
 * rapid commit.
 *
 * Needs root (namespaces). Skips with a reason otherwise, but never under CI=true. The lab
 * (@paddock/testkit) stops every process by pid and deletes the namespaces in afterEach, even
 * when a test fails.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, LAB_SKIP_REASON, startServer, waitFor, waitForUdpPort, type Lab, type LabProcess, type Netns } from "@paddock/testkit";

const isRoot = process.getuid?.() === 0;
const ROOT = fileURLToPath(new URL("../../../../../", import.meta.url));
const RUNNER = fileURLToPath(new URL("./client-udp-runner.ts", import.meta.url));
const TSX = join(ROOT, "node_modules/.bin/tsx");
/** Servers here answer in milliseconds; a lease and one 3 s renewal fit well within this. */
const WAIT_MS = 15_000;
/** The client's MAC: the lease file's client id is derived from it (RFC 4361 DUID-LL). */
const CLIENT_MAC = "02:aa:00:00:00:01";
/** The DHCP server port (RFC 2131 §4.1): dnsmasq is ready once it holds it. */
const DHCP_SERVER_PORT = 67;

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.destroy();
  lab = undefined;
});

interface Net {
  server: Netns;
  client: Netns;
  serverIf: string;
  clientIf: string;
}

function makeNet(): Net {
  lab = createLab({ prefix: "pdc" });
  const link = lab.veth(lab.namespace("s"), lab.namespace("c"), { addresses: { a: "10.99.0.1/24" }, macs: { b: CLIENT_MAC } });
  // A kernel UDP socket needs a route to send to 255.255.255.255 before any address exists.
  lab.ip(link.b.ns, ["route", "add", "default", "dev", link.b.name]);
  return { server: link.a.ns, client: link.b.ns, serverIf: link.a.name, clientIf: link.b.name };
}

/** The process's output as lines (the last, unfinished one left out). */
const lines = (p: LabProcess): string[] => p.output.split("\n").slice(0, -1);

/**
 * Waits until a line of `p`'s output passes `test`; returns it. With `abortOnExit`, fails at once
 * if `p` exits first (not for a line printed just before a deliberate exit: Node may report the
 * exit before it has read the last output).
 */
function waitForLine(p: LabProcess, what: string, test: (line: string) => boolean, abortOnExit = true): Promise<string> {
  return waitFor(() => lines(p).find(test), { what, timeoutMs: WAIT_MS, abortOnExit: abortOnExit ? p : undefined, state: () => `output:\n${p.tail()}` });
}

/** dnsmasq with this file's own configuration (a 2-minute lease on .50–.60, nothing else offered); ready once it holds port 67. */
async function startDnsmasq(net: Net, extra: string[]): Promise<{ proc: LabProcess; leaseFile: string }> {
  const leaseFile = lab!.file("leases");
  const proc = await startServer(lab!, net.server, {
    name: "dnsmasq",
    argv: [
      "dnsmasq", "--no-daemon", "--no-ping", "--port=0", "--log-dhcp", `--interface=${net.serverIf}`, "--bind-interfaces",
      "--conf-file=/dev/null", `--dhcp-leasefile=${leaseFile}`, `--pid-file=${lab!.file("pid")}`,
      "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,2m", ...extra,
    ],
    ready: (p, timeoutMs) => waitForUdpPort(p, DHCP_SERVER_PORT, timeoutMs),
  });
  return { proc, leaseFile };
}

function startClient(net: Net): LabProcess {
  return lab!.spawn(net.client, [TSX, RUNNER, net.clientIf, CLIENT_MAC], { name: "client-udp-runner", stdin: "pipe" });
}

const json = (line: string): Record<string, unknown> => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return {};
  }
};

describe.skipIf(!canCreateLabs)(`client against dnsmasq${canCreateLabs ? "" : ` (skipped: ${LAB_SKIP_REASON})`}`, () => {
  it("runs as root (CI must not skip this file)", () => {
    expect(isRoot).toBe(true);
  });

  it("leases, renews unicast at the server's T1 publishing the whole lease again, and releases", async () => {
    const net = makeNet();
    const server = await startDnsmasq(net, ["--dhcp-option=option:T1,3", "--dhcp-option=option:T2,5"]);
    const client = startClient(net);
    await waitForLine(client, "BOUND", (l) => json(l).state === "BOUND");
    const ip = lines(client).map(json).find((o) => o.kvWrite === "/ip")?.value;
    expect(ip).toMatch(/^10\.99\.0\.(5\d|60)\/24$/);
    expect(lines(client).map(json).find((o) => o.kvWrite === "/gateway")?.value).toBe("10.99.0.1");
    // The RFC 4361 client id (255, IAID = last 4 MAC bytes, DUID-LL) is what dnsmasq keyed the lease on.
    expect(readFileSync(server.leaseFile, "utf8")).toContain(`${String(ip).split("/")[0]} paddock-test ff:00:00:00:01:00:03:00:01:02:aa:00:00:00:01`);

    const bound = lines(client).length;
    await waitForLine(client, "renewal", (l) => (json(l).log as string | undefined)?.startsWith("RENEWING → BOUND") === true);
    const renewal = lines(client).slice(bound).map(json);
    expect(renewal.find((o) => o.send === 3)).toEqual({ send: 3, to: "10.99.0.1", ciaddr: String(ip).split("/")[0], flags: 0 });
    expect(renewal.filter((o) => o.kvWrite !== undefined).map((o) => o.kvWrite)).toEqual(expect.arrayContaining(["/ip", "/gateway", "/lease/expires", "/state/lease"]));
    // The server acknowledged twice: the lease and its renewal (its log may trail the client's).
    await server.proc.waitForLog(/DHCPACK/, { occurrence: 2 });

    client.child.stdin?.write("stop\n");
    await waitForLine(client, "STOPPED", (l) => json(l).state === "STOPPED", false);
    await waitForLine(server.proc, "dnsmasq's RELEASE", (l) => l.includes("DHCPRELEASE"));
    expect(lines(client).map(json).filter((o) => o.kvDelete !== undefined).map((o) => o.kvDelete)).toEqual(["/ip", "/gateway", "/hostname", "/lease/expires", "/lease/server", "/lease/obtained", "/lease/renew", "/lease/rebind", "/state/lease"]);
  }, 30_000);

  it("takes a rapid-commit ACK straight from SELECTING (RFC 4039)", async () => {
    const net = makeNet();
    const server = await startDnsmasq(net, ["--dhcp-rapid-commit"]);
    const client = startClient(net);
    await waitForLine(client, "BOUND", (l) => json(l).state === "BOUND");
    const states = lines(client).map(json).filter((o) => o.state !== undefined).map((o) => o.state);
    expect(states).toEqual(["SELECTING", "BOUND"]);
    expect(lines(client).map(json).filter((o) => o.send !== undefined).map((o) => o.send)).toEqual([1]);
    expect(server.proc.output).not.toContain("DHCPOFFER");
  }, 30_000);
});
