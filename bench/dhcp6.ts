/**
 * Benchmark (not a test) of the DHCPv6 client, side by side in one run against Kea (rapid
 * commit) in two throwaway namespaces joined by a veth: `paddock dhcp6` and `dhcpcd -6` (DHCPv6
 * only, no router solicitation, IA_NA). Root; run it in the foreground (DESIGN.md); it removes
 * every namespace, process and file it made, also on failure:
 *   node_modules/.bin/tsx bench/dhcp6.ts [RUNS]          (default 10 runs per client)
 *
 * Measured per run, the clients interleaved run by run so the machine's load hits them alike,
 * each from a fresh state (paddock: a new state directory; dhcpcd: its lease file removed):
 * - start → address: process start (just before the spawn) → the RTM_NEWADDR of the leased
 *   address, seen by this process on an rtnetlink socket in the client namespace;
 * - SOLICIT → address: the client's first SOLICIT as tcpdump sees it on the server's side (its
 *   kernel timestamp, wall clock) → the same RTM_NEWADDR (wall clock when it arrived here);
 * - the address's valid lifetime as the kernel holds it (the server gives 600 s).
 * Medians with min–max, and paddock's ratio to dhcpcd.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLab, defaultOffer6, startKea6, waitFor, type LabProcess } from "@paddock/testkit";
import { openRtnetlink, RTNLGRP_IPV6_IFADDR } from "../packages/netlink/src/index.ts";
import { dhcp6Lab, globals6 } from "../test/dhcp6-lab.ts";
import { fmt, summarize, table } from "./dhcp-lib.ts";

const RUNS = Number(process.argv[2] ?? 10);
/** Longest wait for one address: both clients take well under a second on a veth. */
const ADDRESS_TIMEOUT_MS = 15_000;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PADDOCK_BIN = path.join(root, "packages/cli/bin/paddock.mjs");
/** dhcpcd has no option for its database directory: what it adds there is removed at the end. */
const DHCPCD_DB = "/var/lib/dhcpcd";
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

if (process.getuid?.() !== 0) {
  console.error("bench/dhcp6.ts needs root (it creates network namespaces)");
  process.exit(1);
}
for (const cmd of ["kea-dhcp6", "dhcpcd", "tcpdump", "runc"]) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/dhcp6.ts needs ${cmd} (make setup installs it)`);
    process.exit(1);
  }
}

type Client = "paddock" | "dhcpcd";
interface Run {
  startMs: number;
  solicitMs: number;
  validLifetime: number;
}

const lab = createLab({ prefix: "d6s" });
const dbBefore = new Set(existsSync(DHCPCD_DB) ? readdirSync(DHCPCD_DB) : []);
try {
  const net = dhcp6Lab(lab);
  await startKea6(lab, net.server, { iface: net.serverIf, offer: defaultOffer6(), rapidCommit: true });
  const capture: LabProcess = lab.spawn(net.server, ["tcpdump", "-l", "-n", "-tt", "-i", net.serverIf, "udp", "port", "547"], { name: "tcpdump" });
  await capture.waitForLog(/listening on/, { timeoutMs: ADDRESS_TIMEOUT_MS });
  const dhcpcdConf = lab.file("dhcpcd.conf");
  // DHCPv6 at once (no RS, IA_NA), no hooks, no IPv4, no waiting before the first message.
  writeFileSync(dhcpcdConf, "ipv6only\nnoipv6rs\nnodelay\nscript \"\"\nia_na 1\n");

  const nl = openRtnetlink({ events: [RTNLGRP_IPV6_IFADDR], netnsPath: net.client.path });
  let seen: { address: string; at: number; perf: number } | undefined;
  nl.onEvent((e) => {
    if (e.kind === "address6" && e.action === "new" && e.address.address?.startsWith("2001:db8:6::") && seen === undefined) seen = { address: e.address.address, at: Date.now(), perf: performance.now() };
  });

  const command = (client: Client, dir: string): string[] =>
    client === "paddock"
      ? [process.execPath, PADDOCK_BIN, "dhcp6", "--iface", net.clientIf, "--state-dir", path.join(dir, "state"), "--runtime-dir", path.join(dir, "run"), "--admin-socket", path.join(dir, "admin.sock"), "--resolv-conf", path.join(dir, "resolv.conf"), "--log-format", "json", "--no-release"]
      : ["dhcpcd", "-B", "-6", "-f", dhcpcdConf, net.clientIf];

  let counter = 0;
  const once = async (client: Client): Promise<Run> => {
    const dir = lab.file(`run-${++counter}`);
    mkdirSync(path.join(dir, "run"), { recursive: true, mode: 0o711 });
    seen = undefined;
    const t0 = performance.now();
    const t0Wall = Date.now();
    const p = lab.spawn(net.client, command(client, dir), { name: client, env: ENV });
    const got = await waitFor(() => seen, { what: `${client}'s address`, timeoutMs: ADDRESS_TIMEOUT_MS, abortOnExit: p, intervalMs: 2 });
    // The client's first message of this run on the wire (a SOLICIT from a fresh state).
    const solicit = await waitFor(() => capture.lines(/ > ff02::1:2\.547: dhcp6 /).find((l) => Number(l.split(" ")[0]) * 1000 >= t0Wall), { what: "the client's first message on the wire", timeoutMs: ADDRESS_TIMEOUT_MS });
    if (!/dhcp6 solicit/.test(solicit)) throw new Error(`${client}'s first message was not a SOLICIT: ${solicit}`);
    const valid = globals6(lab, net.client, net.clientIf).find((a) => a.local === got.address)?.valid_life_time ?? NaN;
    await p.stop();
    // Fresh state for the next run: no address, no lease file.
    for (const a of globals6(lab, net.client, net.clientIf)) lab.ip(net.client, ["-6", "addr", "del", `${a.local}/${a.prefixlen}`, "dev", net.clientIf]);
    if (existsSync(DHCPCD_DB)) for (const f of readdirSync(DHCPCD_DB)) if (!dbBefore.has(f)) rmSync(path.join(DHCPCD_DB, f), { force: true });
    rmSync(dir, { recursive: true, force: true });
    return { startMs: got.perf - t0, solicitMs: got.at - Number(solicit.split(" ")[0]) * 1000, validLifetime: valid };
  };

  // One untimed run each: page cache, Kea's lease database.
  for (const c of ["paddock", "dhcpcd"] as const) await once(c);
  const runs: Record<Client, Run[]> = { paddock: [], dhcpcd: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const c of ["paddock", "dhcpcd"] as const) runs[c].push(await once(c));
    process.stdout.write(`  round ${i + 1}/${RUNS}: paddock ${runs.paddock.at(-1)!.startMs.toFixed(1)} ms (SOLICIT → address ${runs.paddock.at(-1)!.solicitMs.toFixed(1)}), dhcpcd ${runs.dhcpcd.at(-1)!.startMs.toFixed(1)} ms (${runs.dhcpcd.at(-1)!.solicitMs.toFixed(1)})\n`);
  }
  nl.close();
  const s = (c: Client, k: keyof Run) => summarize(runs[c].map((r) => r[k]));
  const ratio = (k: keyof Run) => (s("paddock", k).median / s("dhcpcd", k).median).toFixed(2);
  console.log(`\nDHCPv6 against Kea 2.2 (rapid commit), ${RUNS} runs each, median (min–max):\n`);
  console.log(table([
    ["client", "start → address ms", "SOLICIT → address ms", "valid_lft s"],
    ["paddock dhcp6", fmt(s("paddock", "startMs")), fmt(s("paddock", "solicitMs")), fmt(s("paddock", "validLifetime"), 0)],
    ["dhcpcd -6", fmt(s("dhcpcd", "startMs")), fmt(s("dhcpcd", "solicitMs")), fmt(s("dhcpcd", "validLifetime"), 0)],
    ["paddock / dhcpcd", ratio("startMs"), ratio("solicitMs"), ""],
  ]));
} finally {
  await lab.destroy();
  if (existsSync(DHCPCD_DB)) for (const f of readdirSync(DHCPCD_DB)) if (!dbBefore.has(f)) rmSync(path.join(DHCPCD_DB, f), { force: true });
}
