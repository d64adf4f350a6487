/**
 * `paddock dhcp decode` against tshark on real exchanges: real DHCP servers (dnsmasq, Kea, ISC
 * dhcpd) and clients (busybox udhcpc, dhcpcd) in throwaway network namespaces, recorded with
 * tcpdump -w, decoded by our capture decoder and by `tshark -T json`, compared field by field.
 *
 * Needs root (namespaces, raw sockets). Skips with a reason otherwise, but never under CI=true.
 * Every process started is killed by pid and every namespace deleted in afterEach.
 */

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeCapture, DhcpErrorCode } from "../packages/services/dhcp4/core/src/index.ts";
import { compareWithTshark, tsharkOracle } from "../packages/services/dhcp4/core/test/tshark-oracle.ts";
import { runDhcpDecode } from "../packages/cli/src/commands/dhcp-decode.ts";
import { Teardown } from "./helpers/netns.ts";
import { paddockBin as PADDOCK } from "./helpers/paddock.ts";

const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === "true";

/** How long one client may take to get a lease: servers answer in milliseconds here. */
const CLIENT_TIMEOUT_MS = 15_000;
/** How long to wait for a daemon's readiness line before giving up. */
const READY_TIMEOUT_MS = 10_000;

let counter = 0;
const teardown = new Teardown();
const { children, namespaces, paths: dirs } = teardown;
/** dhcpcd keeps a lease per interface name in its (compiled-in) database directory. */
const DHCPCD_DBDIR = "/var/lib/dhcpcd";

afterEach(() => teardown.run());

function sh(cmd: string, args: string[], timeout = 10_000): string {
  return execFileSync(cmd, args, { encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });
}

function inNs(ns: string, cmd: string[], timeout = 10_000): string {
  return sh("nsenter", [`--net=/run/netns/${ns}`, ...cmd], timeout);
}

/** Starts a daemon in a namespace and resolves once `ready` appears in its output. */
function startDaemon(ns: string, cmd: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn("nsenter", [`--net=/run/netns/${ns}`, ...cmd], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  children.push(child);
  let seen = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd[0]} not ready after ${READY_TIMEOUT_MS} ms: ${seen}`)), READY_TIMEOUT_MS);
    const onData = (b: Buffer) => {
      seen += b.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd[0]} exited with ${code} before it was ready: ${seen}`));
    });
  });
}

/** Stops a child by pid and waits for it (tcpdump flushes its file on SIGINT). */
function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, 3000);
    child.on("exit", () => {
      clearTimeout(t);
      resolve();
    });
    if (child.pid !== undefined) process.kill(child.pid, signal);
  });
}

interface Lab {
  server: string;
  client: string;
  /** The client's interface: named per test so that dhcpcd finds no earlier lease to reboot with. */
  ifname: string;
  net: string;
  dir: string;
}

/** Two namespaces joined by a veth pair; the server side has NET.1/24. */
function makeLab(): Lab {
  const n = ++counter;
  const id = `${process.pid % 100000}${n}`;
  const lab = { server: `pdS${id}`, client: `pdC${id}`, ifname: `c${id}`, net: `10.${77 + (process.pid % 100)}.${n}`, dir: mkdtempSync(join(tmpdir(), "paddock-interop-")) };
  dirs.push(lab.dir);
  for (const ns of [lab.server, lab.client]) {
    sh("ip", ["netns", "add", ns]);
    namespaces.push(ns);
  }
  sh("ip", ["link", "add", "vS", "netns", lab.server, "type", "veth", "peer", "name", lab.ifname, "netns", lab.client]);
  // dhcpcd keeps its lease file in its own database dir: removed with the rest.
  dirs.push(join(DHCPCD_DBDIR, `${lab.ifname}.lease`));
  inNs(lab.server, ["ip", "addr", "add", `${lab.net}.1/24`, "dev", "vS"]);
  inNs(lab.server, ["ip", "link", "set", "vS", "up"]);
  inNs(lab.server, ["ip", "link", "set", "lo", "up"]);
  inNs(lab.client, ["ip", "link", "set", lab.ifname, "up"]);
  return lab;
}

type Server = (lab: Lab) => Promise<ChildProcess>;
type Client = (lab: Lab) => void | Promise<void>;

const dnsmasq: Server = (lab) =>
  startDaemon(
    lab.server,
    [
      "dnsmasq", "--no-daemon", "--no-ping", "--port=0", "--conf-file=/dev/null", "--interface=vS", "--bind-interfaces",
      `--dhcp-range=${lab.net}.100,${lab.net}.150,255.255.255.0,1h`,
      "--dhcp-option=option:domain-search,anc.test,lab.anc.test",
      `--dhcp-option=121,10.0.0.0/8,${lab.net}.1,192.168.4.0/22,${lab.net}.2`,
      "--dhcp-option=option:mtu,1400",
      `--dhcp-option=option:ntp-server,${lab.net}.1`,
      "--dhcp-option=option:domain-name,anc.test",
      `--dhcp-option=option:dns-server,${lab.net}.1`,
      `--dhcp-leasefile=${join(lab.dir, "leases")}`, "--pid-file=",
    ],
    /sockets bound|DHCP, IP range/,
  );

const kea: Server = (lab) => {
  const conf = join(lab.dir, "kea.json");
  writeFileSync(
    conf,
    JSON.stringify({
      Dhcp4: {
        "interfaces-config": { interfaces: ["vS"], "dhcp-socket-type": "raw" },
        "lease-database": { type: "memfile", persist: false },
        "valid-lifetime": 3600,
        subnet4: [
          {
            id: 1,
            subnet: `${lab.net}.0/24`,
            pools: [{ pool: `${lab.net}.100 - ${lab.net}.150` }],
            "option-data": [
              { name: "routers", data: `${lab.net}.1` },
              { name: "domain-name-servers", data: `${lab.net}.1` },
              { name: "domain-search", data: "anc.test, lab.anc.test" },
              { name: "interface-mtu", data: "1400" },
              { name: "ntp-servers", data: `${lab.net}.1` },
            ],
          },
        ],
        loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "INFO" }],
      },
    }),
  );
  return startDaemon(lab.server, ["kea-dhcp4", "-c", conf], /DHCP4_STARTED|DHCPSRV_OPEN_SOCKET|server version .* started/, {
    KEA_PIDFILE_DIR: lab.dir,
    KEA_LOCKFILE_DIR: "none",
  });
};

const iscDhcpd: Server = (lab) => {
  const conf = join(lab.dir, "dhcpd.conf");
  const leases = join(lab.dir, "dhcpd.leases");
  writeFileSync(leases, "");
  writeFileSync(
    conf,
    [
      "authoritative;",
      "ping-check false;",
      "option rfc3442-classless-static-routes code 121 = array of integer 8;",
      'option domain-search "anc.test", "lab.anc.test";',
      `subnet ${lab.net}.0 netmask 255.255.255.0 {`,
      `  range ${lab.net}.100 ${lab.net}.150;`,
      `  option routers ${lab.net}.1;`,
      "  option interface-mtu 1400;",
      `  option rfc3442-classless-static-routes 8, 10, ${lab.net.replaceAll(".", ", ")}, 1;`,
      "  default-lease-time 3600;",
      "}",
    ].join("\n"),
  );
  return startDaemon(lab.server, ["dhcpd", "-4", "-f", "-d", "-cf", conf, "-lf", leases, "-pf", join(lab.dir, "dhcpd.pid"), "vS"], /Sending on|Server starting/);
};

const udhcpd: Server = (lab) => {
  const conf = join(lab.dir, "udhcpd.conf");
  writeFileSync(join(lab.dir, "udhcpd.leases"), "");
  writeFileSync(
    conf,
    [
      `start ${lab.net}.100`,
      `end ${lab.net}.150`,
      "interface vS",
      `lease_file ${join(lab.dir, "udhcpd.leases")}`,
      `pidfile ${join(lab.dir, "udhcpd.pid")}`,
      `opt router ${lab.net}.1`,
      `opt dns ${lab.net}.1`,
      "opt subnet 255.255.255.0",
      "opt domain anc.test",
      "opt mtu 1400",
      "opt lease 3600",
    ].join("\n"),
  );
  return startDaemon(lab.server, ["busybox", "udhcpd", "-f", conf], /started/);
};

/** Paddock's own client: the whole shim (priv and sandboxed calf), stopped once the lease is applied. */
const paddockDhcp: Client = (lab) => {
  const runtime = join(lab.dir, "run");
  chmodSync(lab.dir, 0o711);
  const script = [
    `${PADDOCK} dhcp --iface ${lab.ifname} --state-dir ${join(lab.dir, "state")} --runtime-dir ${runtime}`,
    `--admin-socket ${join(lab.dir, "admin.sock")} --resolv-conf ${join(lab.dir, "resolv.conf")} --hostname interop --log-format json & pid=$!;`,
    `for i in $(seq 200); do ip -4 -o addr show dev ${lab.ifname} | grep -q inet && break; sleep 0.05; done;`,
    "kill $pid; wait $pid",
  ].join(" ");
  inNs(lab.client, ["sh", "-c", script], CLIENT_TIMEOUT_MS);
};

/**
 * ISC dhclient: in the foreground with no script (nothing of the host's is touched), stopped once
 * it says it is bound (it would stay to renew).
 */
const dhclient: Client = async (lab) => {
  const conf = join(lab.dir, "dhclient.conf");
  writeFileSync(conf, "timeout 10;\nretry 1;\nsend host-name \"interop\";\n");
  const child = await startDaemon(lab.client, ["dhclient", "-4", "-1", "-d", "-sf", "/bin/true", "-cf", conf, "-lf", join(lab.dir, "dhclient.leases"), "--no-pid", lab.ifname], /bound to/);
  await stop(child);
};

const udhcpc: Client = (lab) => {
  inNs(
    lab.client,
    ["busybox", "udhcpc", "-i", lab.ifname, "-n", "-q", "-f", "-s", "/bin/true", "-t", "5", "-T", "1",
      "-O", "search", "-O", "staticroutes", "-O", "mtu", "-O", "ntpsrv", "-x", "hostname:interop", "-F", "interop.anc.test"],
    CLIENT_TIMEOUT_MS,
  );
};

const dhcpcd: Client = (lab) => {
  // -c /bin/true: no hook scripts (they would rewrite the host's resolv.conf); -1: exit once bound.
  inNs(lab.client, ["dhcpcd", "-4", "-1", "-B", "-t", "10", "--noarp", "-c", "/bin/true", "-f", "/dev/null",
    "-o", "domain_search", "-o", "classless_static_routes", "-o", "interface_mtu", "-h", "interop", lab.ifname], CLIENT_TIMEOUT_MS);
};

/** Runs one exchange under tcpdump and compares our decode of the capture with tshark's. */
async function exchange(server: Server, client: Client): Promise<{ messageTypes: (number | null)[]; codes: Set<number> }> {
  const lab = makeLab();
  const pcap = join(lab.dir, "exchange.pcap");
  const tcpdump = await startDaemon(lab.server, ["tcpdump", "-i", "vS", "--immediate-mode", "-U", "-n", "-w", pcap, "udp port 67 or udp port 68"], /listening on/);
  const srv = await server(lab);
  await client(lab);
  // Let the last reply reach tcpdump (immediate mode: no ring-block delay) before stopping it.
  await new Promise((r) => setTimeout(r, 300));
  await stop(tcpdump, "SIGINT");
  await stop(srv);

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
  let next = 0;
  const want = [1, 2, 3, 5];
  for (const t of types) if (t === want[next]) next++;
  expect(next, `message types ${types.join(",")}`).toBe(want.length);
  // Checksums of outgoing packets captured on the sending host are unfinished (offload): with
  // verification on, the server's replies are reported, which is why it is off by default.
  const strict = decodeCapture(readFileSync(pcap), { verifyChecksums: true });
  if (strict.ok) {
    for (const l of strict.value.lines) if ("error" in l) expect(l.error).toBe(DhcpErrorCode.BAD_UDP_CHECKSUM);
  }
  return { messageTypes: types, codes };
}

const skipReason = !isRoot && !inCi ? "needs root for network namespaces" : "";

describe.skipIf(skipReason !== "")(`dhcp decode agrees with tshark on real exchanges ${skipReason}`, () => {
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
