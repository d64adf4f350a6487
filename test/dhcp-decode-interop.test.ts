/**
 * `paddock dhcp decode` against tshark on real exchanges: real DHCP servers (dnsmasq, Kea, ISC
 * dhcpd) and clients (busybox udhcpc, dhcpcd) in throwaway network namespaces, recorded with
 * tcpdump -w, decoded by our capture decoder and by `tshark -T json`, compared field by field.
 *
 * Needs root (namespaces, raw sockets). Skips with a reason otherwise, but never under CI=true.
 * Each exchange is a lab of @paddock/testkit: every process it started is stopped by pid and its
 * namespaces deleted in afterEach, also when the test failed.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  canCreateLabs, createLab, defaultOffer, LAB_SKIP_REASON, startDnsmasq, startIscDhcpd, startKea4, startPaddock, startUdhcpd, waitFor, waitForAddress,
  type Lab, type LabProcess, type Netns,
} from "@paddock/testkit";
import { decodeCapture, DhcpErrorCode } from "../packages/services/dhcp4/core/src/index.ts";
import { compareWithTshark, tsharkOracle } from "../packages/services/dhcp4/core/test/tshark-oracle.ts";
import { runDhcpDecode } from "../packages/cli/src/commands/dhcp-decode.ts";
import { paddockBin as PADDOCK } from "./helpers/paddock.ts";

const isRoot = process.getuid?.() === 0;

/** How long one client may take to get a lease: servers answer in milliseconds here. */
const CLIENT_TIMEOUT_MS = 15_000;
/** dhcpcd keeps a lease per interface name in its (compiled-in) database directory. */
const DHCPCD_DBDIR = "/var/lib/dhcpcd";
/** The network of every exchange: each has namespaces of its own, so they never meet. */
const NET = "10.77.0";

let lab: Lab | undefined;
/** Temporary directories of the tests that need no lab. */
const dirs: string[] = [];

afterEach(async () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  await lab?.destroy();
  lab = undefined;
});

interface Exchange {
  lab: Lab;
  server: Netns;
  client: Netns;
  /** The server's interface. */
  serverIf: string;
  /** The client's interface: unique per lab, so dhcpcd finds no earlier lease to reboot with. */
  ifname: string;
  net: string;
}

/** Two namespaces joined by a veth pair; the server side has NET.1/24. */
function makeExchange(): Exchange {
  lab = createLab({ prefix: "pdi" });
  const link = lab.veth(lab.namespace("s"), lab.namespace("c"), { addresses: { a: `${NET}.1/24` } });
  // dhcpcd keeps its lease file in its own database dir: removed with the rest.
  lab.defer(() => rmSync(join(DHCPCD_DBDIR, `${link.b.name}.lease`), { force: true }));
  return { lab, server: link.a.ns, client: link.b.ns, serverIf: link.a.name, ifname: link.b.name, net: NET };
}

type Server = (x: Exchange) => Promise<LabProcess>;
type Client = (x: Exchange) => Promise<void>;

const dnsmasq: Server = (x) =>
  startDnsmasq(x.lab, x.server, {
    iface: x.serverIf,
    offer: defaultOffer(x.net, {
      rangeEnd: `${x.net}.150`,
      dns: [`${x.net}.1`],
      domain: "anc.test",
      search: ["anc.test", "lab.anc.test"],
      mtu: 1400,
      classless: [{ dst: "10.0.0.0/8", via: `${x.net}.1` }, { dst: "192.168.4.0/22", via: `${x.net}.2` }],
      leaseSeconds: 3600,
    }),
    extraArgs: [`--dhcp-option=option:ntp-server,${x.net}.1`],
  });

const kea: Server = (x) =>
  startKea4(x.lab, x.server, {
    iface: x.serverIf,
    config: {
      "interfaces-config": { interfaces: [x.serverIf], "dhcp-socket-type": "raw" },
      "lease-database": { type: "memfile", persist: false },
      "valid-lifetime": 3600,
      subnet4: [
        {
          id: 1,
          subnet: `${x.net}.0/24`,
          pools: [{ pool: `${x.net}.100 - ${x.net}.150` }],
          "option-data": [
            { name: "routers", data: `${x.net}.1` },
            { name: "domain-name-servers", data: `${x.net}.1` },
            { name: "domain-search", data: "anc.test, lab.anc.test" },
            { name: "interface-mtu", data: "1400" },
            { name: "ntp-servers", data: `${x.net}.1` },
          ],
        },
      ],
      loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "INFO" }],
    },
  });

const iscDhcpd: Server = (x) =>
  startIscDhcpd(x.lab, x.server, {
    iface: x.serverIf,
    config: [
      "authoritative;",
      "ping-check false;",
      "option rfc3442-classless-static-routes code 121 = array of integer 8;",
      'option domain-search "anc.test", "lab.anc.test";',
      `subnet ${x.net}.0 netmask 255.255.255.0 {`,
      `  range ${x.net}.100 ${x.net}.150;`,
      `  option routers ${x.net}.1;`,
      "  option interface-mtu 1400;",
      `  option rfc3442-classless-static-routes 8, 10, ${x.net.replaceAll(".", ", ")}, 1;`,
      "  default-lease-time 3600;",
      "}",
    ].join("\n"),
  });

const udhcpd: Server = (x) => {
  const leases = x.lab.file("udhcpd.leases");
  writeFileSync(leases, "");
  return startUdhcpd(x.lab, x.server, {
    iface: x.serverIf,
    config: [
      `start ${x.net}.100`,
      `end ${x.net}.150`,
      `interface ${x.serverIf}`,
      `lease_file ${leases}`,
      `pidfile ${x.lab.file("udhcpd.pid")}`,
      `opt router ${x.net}.1`,
      `opt dns ${x.net}.1`,
      "opt subnet 255.255.255.0",
      "opt domain anc.test",
      "opt mtu 1400",
      "opt lease 3600",
    ].join("\n"),
  });
};

/** Runs a client to completion in the client namespace; throws with its output when it fails. */
async function runClient(x: Exchange, argv: string[]): Promise<void> {
  const r = await x.lab.run(x.client, argv, { timeoutMs: CLIENT_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
}

/** Paddock's own client: the whole shim (priv and sandboxed calf), stopped once the lease is applied. */
const paddockDhcp: Client = async (x) => {
  const shim = startPaddock(x.lab, x.client, [
    "dhcp", "--no-arp-probe", "--iface", x.ifname, "--state-dir", x.lab.file("state"), "--runtime-dir", x.lab.file("run"),
    "--admin-socket", x.lab.file("admin.sock"), "--resolv-conf", x.lab.file("resolv.conf"), "--hostname", "interop", "--log-format", "json",
  ], { bin: PADDOCK });
  await waitForAddress(x.lab, x.client, x.ifname, "inet", { timeoutMs: CLIENT_TIMEOUT_MS, abortOnExit: shim });
  await shim.stop();
};

/**
 * ISC dhclient: in the foreground with no script (nothing of the host's is touched), stopped once
 * it says it is bound (it would stay to renew).
 */
const dhclient: Client = async (x) => {
  const conf = x.lab.file("dhclient.conf");
  writeFileSync(conf, "timeout 10;\nretry 1;\nsend host-name \"interop\";\n");
  const child = x.lab.spawn(x.client, ["dhclient", "-4", "-1", "-d", "-sf", "/bin/true", "-cf", conf, "-lf", x.lab.file("dhclient.leases"), "--no-pid", x.ifname]);
  await child.waitForLog(/bound to/, { timeoutMs: CLIENT_TIMEOUT_MS });
  await child.stop();
};

const udhcpc: Client = (x) =>
  runClient(x, ["busybox", "udhcpc", "-i", x.ifname, "-n", "-q", "-f", "-s", "/bin/true", "-t", "5", "-T", "1",
    "-O", "search", "-O", "staticroutes", "-O", "mtu", "-O", "ntpsrv", "-x", "hostname:interop", "-F", "interop.anc.test"]);

const dhcpcd: Client = (x) =>
  // -c /bin/true: no hook scripts (they would rewrite the host's resolv.conf); -1: exit once bound.
  runClient(x, ["dhcpcd", "-4", "-1", "-B", "-t", "10", "--noarp", "-c", "/bin/true", "-f", "/dev/null",
    "-o", "domain_search", "-o", "classless_static_routes", "-o", "interface_mtu", "-h", "interop", x.ifname]);

/** DISCOVER, OFFER, REQUEST, ACK: the exchange went the whole way, with anything in between. */
const WHOLE_EXCHANGE = [1, 2, 3, 5];

/** How far into WHOLE_EXCHANGE the message types go, in order. */
function exchangeProgress(types: readonly (number | null)[]): number {
  let next = 0;
  for (const t of types) if (t === WHOLE_EXCHANGE[next]) next++;
  return next;
}

/** Message types in a capture file (which may still be growing); [] when it cannot be read yet. */
function capturedTypes(pcap: string): (number | null)[] {
  const decoded = decodeCapture(readFileSync(pcap));
  return decoded.ok ? decoded.value.lines.flatMap((l) => ("error" in l ? [] : [l.messageType])) : [];
}

/** Runs one exchange under tcpdump and compares our decode of the capture with tshark's. */
async function exchange(server: Server, client: Client): Promise<{ messageTypes: (number | null)[]; codes: Set<number> }> {
  const x = makeExchange();
  const pcap = x.lab.file("exchange.pcap");
  const tcpdump = x.lab.spawn(x.server, ["tcpdump", "-i", x.serverIf, "--immediate-mode", "-U", "-n", "-w", pcap, "udp port 67 or udp port 68"]);
  await tcpdump.waitForLog(/listening on/);
  const srv = await server(x);
  await client(x);
  // The client has its lease, so the ACK has left the server; stop tcpdump once it has written
  // it (-U: it writes each packet as it comes). A capture that never gets there fails the wait.
  await waitFor(() => exchangeProgress(capturedTypes(pcap)) === WHOLE_EXCHANGE.length, {
    what: "tcpdump to write the whole exchange",
    abortOnExit: tcpdump,
    state: () => `message types ${capturedTypes(pcap).join(",")}`,
  });
  await tcpdump.stop("SIGINT"); // tcpdump flushes its file on SIGINT
  await srv.stop();

  const decoded = decodeCapture(readFileSync(pcap));
  if (!decoded.ok) throw new Error(decoded.error.detail);
  const oracle = tsharkOracle(pcap);
  expect(decoded.value.lines.length).toBe(oracle.length);
  expect(oracle.length).toBeGreaterThanOrEqual(4);
  const diffs = oracle.flatMap((o, i) => compareWithTshark(decoded.value.lines[i] as unknown as Record<string, unknown>, o));
  expect(diffs).toEqual([]);
  const messages = decoded.value.lines.filter((l): l is Exclude<typeof l, { error: string }> => !("error" in l));
  expect(messages.length).toBe(decoded.value.lines.length);
  const codes = new Set(messages.flatMap((m) => Object.keys(m.options).map(Number)));
  // The exchange went the whole way: DISCOVER, OFFER, REQUEST, ACK in that order (with
  // retransmissions in between, e.g. while udhcpd ARP-probes the address it will offer).
  const types = messages.map((m) => m.messageType);
  expect(exchangeProgress(types), `message types ${types.join(",")}`).toBe(WHOLE_EXCHANGE.length);
  // Checksums of outgoing packets captured on the sending host are unfinished (offload): with
  // verification on, the server's replies are reported, which is why it is off by default.
  const strict = decodeCapture(readFileSync(pcap), { verifyChecksums: true });
  if (strict.ok) {
    for (const l of strict.value.lines) if ("error" in l) expect(l.error).toBe(DhcpErrorCode.BAD_UDP_CHECKSUM);
  }
  return { messageTypes: types, codes };
}

describe.skipIf(!canCreateLabs)(`dhcp decode agrees with tshark on real exchanges${canCreateLabs ? "" : ` (skipped: ${LAB_SKIP_REASON})`}`, () => {
  it("runs as root (CI must not skip this file)", () => {
    expect(isRoot).toBe(true);
  });

  it("dnsmasq ↔ udhcpc, with domain search (119) and classless routes (121)", async () => {
    const r = await exchange(dnsmasq, udhcpc);
    for (const c of [1, 3, 6, 15, 26, 42, 51, 53, 54, 55, 61, 119, 121]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("dnsmasq ↔ dhcpcd", async () => {
    const r = await exchange(dnsmasq, dhcpcd);
    for (const c of [1, 3, 51, 53, 54, 55, 57, 60]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("Kea ↔ udhcpc", async () => {
    const r = await exchange(kea, udhcpc);
    for (const c of [1, 3, 6, 26, 42, 51, 53, 54, 119]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("ISC dhcpd ↔ udhcpc", async () => {
    const r = await exchange(iscDhcpd, udhcpc);
    for (const c of [1, 3, 26, 51, 53, 54, 119, 121]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("busybox udhcpd ↔ udhcpc", async () => {
    const r = await exchange(udhcpd, udhcpc);
    for (const c of [1, 3, 6, 15, 26, 51, 53, 54]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("dnsmasq ↔ paddock dhcp (our own client on the wire)", async () => {
    const r = await exchange(dnsmasq, paddockDhcp);
    for (const c of [1, 3, 6, 12, 51, 53, 54, 55, 57, 61, 80, 119, 121]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("Kea ↔ ISC dhclient", async () => {
    const r = await exchange(kea, dhclient);
    for (const c of [1, 3, 6, 51, 53, 54, 55]) expect(r.codes, `option ${c}`).toContain(c);
  });

  it("ISC dhcpd ↔ dhcpcd", async () => {
    const r = await exchange(iscDhcpd, dhcpcd);
    for (const c of [1, 3, 51, 53, 54]) expect(r.codes, `option ${c}`).toContain(c);
  });
});

describe("the paddock dhcp decode command", () => {
  const run = (file: string, verifyChecksums = false) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = runDhcpDecode(file, { verifyChecksums }, (l) => out.push(...l), (e) => err.push(e));
    return { code, out, err };
  };
  const flood = join(import.meta.dirname, "../../shared/pcaps/public/zeek/dhcp_flood.pcap");

  it("prints one JSON line per packet, as the library decodes them", () => {
    const r = run(flood);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    const lib = decodeCapture(readFileSync(flood));
    if (!lib.ok) throw new Error(lib.error.detail);
    expect(r.out).toEqual(lib.value.lines.map((l) => JSON.stringify(l)));
    expect(r.out).toHaveLength(500);
  });

  it("a missing file, a directory and a text file give one sentence and exit code 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "paddock-cli-"));
    dirs.push(dir);
    const text = join(dir, "notes.txt");
    writeFileSync(text, "not a capture\n");
    for (const f of [join(dir, "missing.pcap"), dir, text]) {
      const r = run(f);
      expect(r.code).toBe(1);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^paddock dhcp decode: .*\.$/);
      expect(r.err[0]).not.toMatch(/\n\s+at /);
    }
  });

  it("warns about a truncated capture but prints what it holds", () => {
    const dir = mkdtempSync(join(tmpdir(), "paddock-cli-"));
    dirs.push(dir);
    const cut = join(dir, "cut.pcap");
    const whole = readFileSync(flood);
    writeFileSync(cut, whole.subarray(0, whole.length - 7));
    const r = run(cut);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(499);
    expect(r.err.join("")).toMatch(/warning: .* ends mid-record/);
  });
});
