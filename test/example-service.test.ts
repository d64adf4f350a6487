/**
 * examples/heartbeat, a service written only against the public API, run by `paddock run` from its
 * source next to `paddock dhcp` on the same interface, as two processes: each has its own calf
 * (real runc sandbox), its own socket mark and its own tc egress program. dnsmasq and a heartbeat
 * server (test/fixtures/heartbeat-server.mjs) answer from a second namespace.
 *
 * Needs root (namespaces, runc). Skipped with a reason otherwise, never under CI=true.
 */
import http from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addresses,
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
  type LabProcess,
  type Netns,
  type PaddockProcess,
  type Veth,
} from "@paddock/testkit";

const NEEDS = ["dnsmasq", "runc", "nsenter", "tc"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the example service test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

const repoRoot = path.resolve(import.meta.dirname, "..");
const EXAMPLE = path.join(repoRoot, "examples/heartbeat/service.ts");
const SERVER = path.join(repoRoot, "test/fixtures/heartbeat-server.mjs");
/** A lease or a first reply on a veth takes well under a second; this is a hang. The build as nobody comes first. */
const TIMEOUT_MS = 30_000;
/** A port the heartbeat's egress does not allow (it allows 7047 only). */
const FORBIDDEN_PORT = 9;

/** The Paddock tc filters on `dev`'s egress hook, from `tc filter show` (pref, handle, name). */
function paddockFilters(lab: Lab, ns: Netns, dev: string): Array<{ pref: number; handle: string; line: string }> {
  const out = lab.exec(ns, ["tc", "filter", "show", "dev", dev, "egress"]);
  return out
    .split("\n")
    .filter((l) => / bpf /.test(l) && /handle /.test(l))
    .map((line) => ({ pref: Number(/pref (\d+)/.exec(line)?.[1]), handle: /handle (\S+)/.exec(line)![1]!, line }));
}

/** Prometheus text from a metrics Unix socket. */
function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: "/metrics", timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("metrics request timed out")));
    req.on("error", reject);
  });
}

/** The value of one sample line (`name{labels} value` or `name value`), NaN when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && want.every((w) => l.includes(w)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : Number.NaN;
}

interface Status {
  peer: string;
  state: string;
  last?: { seq: number; rttUs: number; offsetUs: number; rxTimeNs: string };
}

describe.skipIf(!run)(`examples/heartbeat next to paddock dhcp (${run ? "root" : skipReason})`, () => {
  let lab: Lab;
  let server: Netns;
  let client: Netns;
  let link: Veth;
  let dhcp: PaddockProcess;
  let heartbeat: PaddockProcess;
  let responder: LabProcess;
  let statusFile: string;
  let metricsSocket: string;
  const net = "10.83.0";

  beforeAll(async () => {
    lab = createLab({ prefix: "pdkex" });
    server = lab.namespace("srv", { ipv6: false });
    client = lab.namespace("cli", { ipv6: false });
    link = lab.veth(server, client, { addresses: { a: `${net}.1/24` } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer(net) });
    responder = await startServer(lab, server, {
      name: "heartbeat-server",
      argv: [process.execPath, SERVER, `${net}.1`],
      ready: (p, timeoutMs) => p.waitForLog(/listening/, { timeoutMs }),
    });
    const runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    const dhcpState = lab.file("dhcp-state");
    const hbState = lab.file("heartbeat-state");
    statusFile = path.join(hbState, "status.json");
    metricsSocket = lab.file("heartbeat-metrics.sock");
    dhcp = startPaddock(lab, client, ["dhcp", "--no-arp-probe", "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", dhcpState, "--resolv-conf", lab.file("resolv.conf"), "--admin-socket", lab.file("dhcp.sock")]);
    heartbeat = startPaddock(lab, client, [
      "run", EXAMPLE, "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", hbState, "--metrics", metricsSocket,
      "--set", `peer=${net}.1`, "--set", "interval-ms=200", "--set", `try-port=${FORBIDDEN_PORT}`,
    ], { name: "paddock run heartbeat" });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("applies the DHCP lease while the heartbeat runs on the same interface", async () => {
    const a = await waitForAddress(lab, client, link.b.name, "inet", { timeoutMs: TIMEOUT_MS, abortOnExit: [dhcp, heartbeat] });
    expect(a.local.startsWith(`${net}.`)).toBe(true);
    await dhcp.waitForLog(/handler lease applied/, { timeoutMs: TIMEOUT_MS });
  });

  it("its calf measures round trips from kernel timestamps, and its handler gets typed values", async () => {
    await heartbeat.waitForLog(/heartbeat started on/, { timeoutMs: TIMEOUT_MS });
    const status = await waitFor(
      () => {
        try {
          const s = JSON.parse(readFileSync(statusFile, "utf8")) as Status;
          return s.state === "reachable" && s.last ? s : undefined;
        } catch {
          return undefined;
        }
      },
      { what: "the heartbeat handler's status file to say reachable", timeoutMs: TIMEOUT_MS, abortOnExit: heartbeat, state: () => heartbeat.tail() },
    );
    expect(status.peer).toBe(`${net}.1`);
    expect(typeof status.last!.seq).toBe("number");
    expect(status.last!.seq).toBeGreaterThan(0);
    expect(Number.isInteger(status.last!.rttUs)).toBe(true);
    expect(status.last!.rttUs).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(status.last!.offsetUs)).toBe(true);
    // The kernel's receive time (SO_TIMESTAMPNS): ns since the epoch, not a ms clock scaled up.
    const rx = BigInt(status.last!.rxTimeNs);
    expect(rx).toBeGreaterThan(1_600_000_000n * 1_000_000_000n);
    expect(rx % 1000n !== 0n || rx % 1_000_000n !== 0n).toBe(true);
    expect(responder.lines(/^PING 16 bytes from /).length).toBeGreaterThan(0);
    expect(heartbeat.output).toMatch(/handler status applied/);
  });

  it("refuses a datagram to a port its egress does not allow, in TypeScript, and counts it", async () => {
    // The metric, not the log: the relay logs refusals at most once a second, counted from the
    // priv's start, so a refusal in its first second is counted but not logged (see README.md).
    const rejected = (text: string) => sample(text, "paddock_egress_rejected_total", { service: "heartbeat", reason: "PADDOCK_E_EGRESS_PORTS" });
    const metrics = await waitFor(async () => {
      const text = await scrape(metricsSocket);
      return rejected(text) >= 1 ? text : undefined; // NaN (absent) is not ≥ 1
    }, { what: "paddock_egress_rejected_total{reason=PORTS} ≥ 1", timeoutMs: TIMEOUT_MS, abortOnExit: heartbeat, state: () => heartbeat.tail() });
    expect(rejected(metrics)).toBe(1);
    // The service's own metric (setup's `metrics`), read from the store at scrape time.
    expect(sample(metrics, "paddock_heartbeat_rtt_microseconds", {})).toBeGreaterThanOrEqual(0);
    expect(heartbeat.output).toMatch(/trying a port egress does not allow .*\bport=9\b/);
    expect(responder.lines(/^other /)).toEqual([]);
  });

  it("has its own tc egress program next to the DHCP client's", () => {
    const filters = paddockFilters(lab, client, link.b.name);
    expect(filters, filters.map((f) => f.line).join("\n")).toHaveLength(2);
    expect(new Set(filters.map((f) => f.pref)).size).toBe(2);
    expect(new Set(filters.map((f) => f.handle)).size).toBe(2);
  });

  it("stopping the heartbeat leaves the DHCP client's tc program and lease in place", async () => {
    const before = paddockFilters(lab, client, link.b.name);
    const exit = await heartbeat.stop();
    expect(exit.code).toBe(0);
    const after = paddockFilters(lab, client, link.b.name);
    expect(after).toHaveLength(1);
    expect(before.map((f) => f.handle)).toContain(after[0]!.handle);
    expect(dhcp.running).toBe(true);
    const addrs = await addresses(client, link.b.name);
    expect(addrs.map((a) => a.local).filter((a) => a.startsWith(`${net}.`))).toHaveLength(1);
    // The DHCP client still owns its filter: stopping it removes it.
    expect((await dhcp.stop()).code).toBe(0);
    expect(paddockFilters(lab, client, link.b.name)).toHaveLength(0);
  });
});
