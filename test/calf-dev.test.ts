/**
 * `paddock calf dev SERVICE`, the SDK's harness, on the real `paddock` command:
 *   - the built-in DHCP service's calf, bundled from its sources, replaying a capture: it reads
 *     its keys from a real store, and its DISCOVER passes the service's egress checks;
 *   - a fixture service (test/fixtures/calf-dev): replayed frames keep the capture's times;
 *     a calf that throws at start makes the command fail, with a source-mapped stack trace;
 *   - a calf that does not compile: esbuild's whole message;
 *   - --live against dnsmasq in a namespace pair: a DHCP exchange through the real channel.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, defaultOffer, hasCommand, inNamespace, startDnsmasq, type Lab, type Veth } from "@paddock/testkit";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const paddockBin = path.join(repoRoot, "node_modules/.bin/paddock");
const capture = path.join(repoRoot, "../shared/pcaps/public/charrua/dhcp2.pcap");
const fixture = path.join(repoRoot, "test/fixtures/calf-dev/service.ts");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `[prefix…] paddock ARGS…` to completion without blocking the event loop. */
function paddock(args: string[], prefix: string[] = [], timeoutMs = 30_000): Promise<Run> {
  const [cmd, ...rest] = [...prefix, paddockBin, ...args];
  return new Promise((resolve) => {
    execFile(cmd!, rest, { encoding: "utf8", timeout: timeoutMs, cwd: repoRoot }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/**
 * The receive times (ns since the epoch) of a classic pcap's IPv4 UDP frames to `port`, read
 * from the record headers here, independently of the command's capture reader.
 */
function captureTimesNs(file: string, port: number): bigint[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nanos = (le ? magic : b.readUInt32BE(0)) === 0xa1b23c4d;
  const u32 = (at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const out: bigint[] = [];
  for (let at = 24; at + 16 <= b.length; ) {
    const sec = BigInt(u32(at));
    const frac = BigInt(u32(at + 4));
    const len = u32(at + 8);
    const f = b.subarray(at + 16, at + 16 + len);
    at += 16 + len;
    if (f.length < 42 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 17) continue;
    const l4 = 14 + (f[14]! & 0x0f) * 4;
    if (f.readUInt16BE(l4 + 2) === port) out.push(sec * 1_000_000_000n + (nanos ? frac : frac * 1000n));
  }
  return out;
}

describe("paddock calf dev, replaying captures", () => {
  it("runs the DHCP service's calf against its store, its setup's keys and a replayed capture", async () => {
    const r = await paddock(["calf", "dev", "dhcp4", "--replay", capture, "--max-gap", "50", "--seconds", "1"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/kv: put \/mac 02:00:00:00:00:01/);
    expect(r.stdout).toMatch(/not running the service's handlers/);
    expect(r.stdout).toMatch(/calf: DHCP client started mac=02:00:00:00:00:01/);
    expect(r.stdout).toMatch(/calf sends DISCOVER xid 0x[0-9a-f]+ 0\.0\.0\.0 → 255\.255\.255\.255 verdict="would send"/);
    expect(r.stdout).toMatch(/to calf: OFFER/);
    expect(r.stdout).toMatch(/calf stopped after 1 s code=0/);
  }, 30_000);

  it("gives the calf each frame with the capture's own time, only frames its channel's filter passes", async () => {
    const r = await paddock(["calf", "dev", fixture, "--replay", capture, "--max-gap", "20", "--seconds", "1"]);
    expect(r.status, r.stderr).toBe(0);
    const seen = [...r.stdout.matchAll(/calf: frame received rxTimeNs=(\d+) bytes=\d+/g)].map((m) => BigInt(m[1]!));
    const expected = captureTimesNs(capture, 68);
    expect(expected.length).toBeGreaterThan(0);
    expect(seen).toEqual(expected);
    // Generic descriptions for a service that is not the built-in DHCP client.
    expect(r.stdout).toMatch(/to calf: IPv4 UDP 192\.168\.0\.1:67 → 192\.168\.0\.10:68, 342 bytes/);
    expect(r.stdout).toMatch(/calf: fixture calf started randomBytes=8 monotonic=true/);
  }, 30_000);

  it("gives a UDP service the payloads to its port with the sender and the capture's time, and checks its datagrams", async () => {
    const r = await paddock(["calf", "dev", path.join(repoRoot, "test/fixtures/calf-dev/udp-service.ts"), "--replay", capture, "--max-gap", "20", "--seconds", "1"]);
    expect(r.status, r.stderr).toBe(0);
    const seen = [...r.stdout.matchAll(/calf: datagram received rxTimeNs=(\d+) bytes=300 peer=192\.168\.0\.1:67/g)].map((m) => BigInt(m[1]!));
    expect(seen).toEqual(captureTimesNs(capture, 68));
    expect(r.stdout).toMatch(/calf sends a 1-byte datagram to 192\.168\.0\.1:67 verdict="would send"/);
    expect(r.stdout).toMatch(/calf sends a 1-byte datagram to 192\.0\.2\.9:67 verdict=PADDOCK_E_EGRESS_PEER/);
  }, 30_000);

  it("fails with one line when the calf throws at start, and shows its stack in the TypeScript source", async () => {
    const r = await paddock(["calf", "dev", fixture, "--set", "mode=throw", "--seconds", "5"]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual(["paddock: the calf exited with code 1"]);
    const source = readFileSync(path.join(repoRoot, "test/fixtures/calf-dev/calf.ts"), "utf8").split("\n");
    const line = source.findIndex((l) => l.includes('throw new Error("the fixture calf fails at start")')) + 1;
    expect(line).toBeGreaterThan(0);
    expect(r.stdout).toContain(`at failAtStart (${path.join(repoRoot, "test/fixtures/calf-dev/calf.ts")}:${line}:`);
  }, 30_000);

  it("refuses an option the service does not have", async () => {
    const r = await paddock(["calf", "dev", "dhcp4", "--set", "no-such=1"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^paddock: the service dhcp4 has no option "no-such" \(it has: hostname, /);
  });

  it("explains a service that does not exist", async () => {
    const r = await paddock(["calf", "dev", "does/not/exist.ts"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^paddock: there is no service "does\/not\/exist\.ts"/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("prints esbuild's whole message for a calf that does not compile", async () => {
    // Readable by nobody: as root, the service is built unprivileged.
    const dir = mkdtempSync(path.join(tmpdir(), "paddock-calf-dev-broken-"));
    try {
      chmodSync(dir, 0o755);
      writeFileSync(
        path.join(dir, "service.ts"),
        `import { defineService } from "@paddock/runtime";
export default defineService({
  name: "devbroken",
  description: "a calf with a syntax error",
  channels: { packet: { kind: "packet", receive: { family: "ipv4", protocol: "udp", dstPort: 68 }, egress: [], maxFrameBytes: 1514 } },
  schema: { entries: [], maxTotalBytes: 1024 },
  calf: { entry: "./calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 1, burst: 1 } },
});
`,
        { mode: 0o644 },
      );
      writeFileSync(path.join(dir, "calf.ts"), "export const fine = 1;\nconst broken = (1 + ;\n", { mode: 0o644 });
      const r = await paddock(["calf", "dev", path.join(dir, "service.ts")]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/calf\.ts:2:20: Unexpected ";"\n {4}const broken = \(1 \+ ;/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

// --- live: a real DHCP server in a namespace pair ----------------------------------------------

const isRoot = process.getuid?.() === 0;
const liveSkip = !isRoot ? "needs root (namespaces, a packet socket)" : !hasCommand("dnsmasq") ? "needs dnsmasq" : undefined;
if (liveSkip && process.env.CI === "true") throw new Error(`calf dev --live cannot run here (${liveSkip}), and tests never skip under CI=true`);

describe.skipIf(liveSkip !== undefined)(`paddock calf dev --live${liveSkip ? ` (skipped: ${liveSkip})` : ""}`, () => {
  let lab: Lab | undefined;
  let link: Veth;

  beforeAll(async () => {
    lab = createLab({ prefix: "pdkdev" });
    link = lab.veth(lab.namespace("s"), lab.namespace("c"), { addresses: { a: "10.83.0.1/24" } });
    // Ready once it holds port 67; --no-ping (the kit's default): no 3 s wait before the OFFER.
    await startDnsmasq(lab, link.a.ns, { iface: link.a.name, offer: defaultOffer("10.83.0", { leaseSeconds: 3600 }) });
  }, 30_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("gets an OFFER and an ACK from dnsmasq through the service's real channel", async () => {
    // Entered with nsenter --net, never `ip netns exec` (DESIGN.md).
    const r = await paddock(["calf", "dev", "dhcp4", "--live", "--set", "arp-probe=false", "--iface", link.b.name, "--seconds", "4"], inNamespace(link.b.ns, []));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/calf sends DISCOVER xid 0x[0-9a-f]+ 0\.0\.0\.0 → 255\.255\.255\.255 verdict=sent/);
    expect(r.stdout).toMatch(/to calf: OFFER xid 0x[0-9a-f]+ 10\.83\.0\.1 → /);
    expect(r.stdout).toMatch(/calf sends REQUEST xid 0x[0-9a-f]+ .* verdict=sent/);
    expect(r.stdout).toMatch(/to calf: ACK xid 0x[0-9a-f]+ 10\.83\.0\.1 → /);
    expect(r.stdout).toMatch(/kv: put \/ip 10\.83\.0\.(1\d\d|200)\/24/);
    // The store's /mac is the real interface's.
    expect(r.stdout).toContain(`kv: put /mac ${link.b.mac}`);
  }, 30_000);
});
