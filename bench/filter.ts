/**
 * Benchmark (not a test): the cost of unwanted traffic for the DHCP client's packet socket,
 * kernel filter on vs off, side by side in one run. Needs root; run in the foreground:
 *
 *   node_modules/.bin/tsx bench/filter.ts [frames]
 *
 * A peer namespace floods `frames` (default 100k) non-DHCP IPv4/UDP frames over a veth pair
 * at the interface our socket is bound to. The flood runs in a child process, so the
 * receiving process's CPU time (process.cpuUsage) is only what the receive costs it. Each
 * variant reports frames sent, frames that passed the filter, frames that reached user space,
 * and the receiver's CPU time. With veth, the kernel's receive path (including the filter)
 * runs in the sender's softirq context, so the receiver's CPU time is what filtering saves it.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

import {
  ACCEPT_ALL_FILTER,
  DHCP_CLIENT_FILTER,
  DROP_ALL_FILTER,
  EbpfSocketFilter,
  ETH_P_IP,
  isNativeError,
  openPacketSocket,
  type PacketSocket,
} from "@paddock/native";

import { frameKit, mac } from "../native/test/frames.ts";
import { createVethPair, removeAllNetns } from "../native/test/netns.ts";

/** Default flood size: large enough that per-frame costs dominate process overheads. */
const DEFAULT_FRAMES = 100_000;
/** Receive buffer for the receiving socket: big, so "filter off" loses few frames to queue overflow. */
const RCVBUF_BYTES = 64 << 20;
/** Delivery is over when no frame arrived for this long after the sender finished. */
const QUIET_MS = 300;

// --- sender (child process) -------------------------------------------------------------

async function runSender(ifname: string, netnsPath: string, srcMac: string, count: number): Promise<void> {
  const tx = openPacketSocket({ ifname, netnsPath, protocol: ETH_P_IP, filter: DROP_ALL_FILTER.bytes });
  const kit = frameKit(mac(srcMac));
  // Non-DHCP traffic of the kinds a busy segment carries: UDP to other ports, and fragments.
  const frames = [kit.udp(5000, 6000), kit.udp(53, 5353), kit.udp(67, 67), kit.laterFragmentTo68()];
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  process.stdin.destroy(); // nothing more to read: let the process exit when done
  let sent = 0;
  let retries = 0;
  while (sent < count) {
    try {
      tx.send(frames[sent % frames.length]!);
      sent++;
    } catch (e) {
      // The peer's backlog is full: let it drain, then resend the same frame.
      if (!isNativeError(e, "ENOBUFS")) throw e;
      retries++;
      await new Promise((r) => setImmediate(r));
    }
  }
  tx.close();
  process.stdout.write(`done ${sent} ${retries}\n`);
}

// --- receiver (this process) -----------------------------------------------------------

interface Result {
  variant: string;
  sent: number;
  passedFilter: number;
  queueDrops: number;
  delivered: number;
  cpuMs: number;
  wallMs: number;
}

function waitLine(child: ChildProcessByStdio<Writable, Readable, null>, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const line = buf.split("\n").find((l) => l.startsWith(prefix));
      if (line !== undefined) {
        child.stdout.off("data", onData);
        resolve(line);
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`sender exited (${code}) before "${prefix}"`)));
  });
}

async function measure(
  variant: string,
  filter: Uint8Array | EbpfSocketFilter,
  env: { ifA: string; pathA: string; ifB: string; pathB: string; macB: string },
  count: number,
): Promise<Result> {
  const rx: PacketSocket = openPacketSocket({
    ifname: env.ifA,
    netnsPath: env.pathA,
    protocol: ETH_P_IP,
    filter,
    receiveBufferBytes: RCVBUF_BYTES,
  });
  let delivered = 0;
  let last = Date.now();
  rx.onFrame(() => {
    delivered++;
    last = Date.now();
  });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--send", env.ifB, env.pathB, env.macB, String(count)],
    { cwd: fileURLToPath(new URL("..", import.meta.url)), stdio: ["pipe", "pipe", "inherit"] },
  );
  await waitLine(child, "ready");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  child.stdin.write("go\n");
  const done = await waitLine(child, "done");
  const exited = new Promise((r) => child.once("exit", r));
  child.stdin.end();
  last = Date.now();
  while (Date.now() - last < QUIET_MS) await new Promise((r) => setTimeout(r, 20));
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0 - QUIET_MS;
  const stats = rx.stats();
  rx.close();
  await exited;
  return {
    variant,
    sent: Number(done.split(" ")[1]),
    passedFilter: stats.kernelPackets,
    queueDrops: stats.kernelDrops,
    delivered,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === "--send") {
    const [, , , ifname, netnsPath, srcMac, count] = process.argv;
    await runSender(ifname!, netnsPath!, srcMac!, Number(count));
    return;
  }
  if (process.getuid?.() !== 0) {
    console.error("bench/filter.ts needs root (network namespaces, packet sockets)");
    process.exit(1);
  }
  const count = Number(process.argv[2] ?? DEFAULT_FRAMES);
  const pair = createVethPair();
  const env = { ifA: pair.ifA, pathA: pair.pathA, ifB: pair.ifB, pathB: pair.pathB, macB: pair.macB };
  const ebpf = EbpfSocketFilter.loadDhcp();
  try {
    const results: Result[] = [];
    results.push(await measure("filter on (classic)", DHCP_CLIENT_FILTER.bytes, env, count));
    results.push(await measure("filter off (accept all)", ACCEPT_ALL_FILTER.bytes, env, count));
    results.push(await measure("filter on (eBPF)", ebpf, env, count));
    const counters = ebpf.counters();
    console.log(`flood of ${count} non-DHCP frames over veth, receiver CPU = user + system of this process`);
    console.table(
      results.map((r) => ({
        variant: r.variant,
        sent: r.sent,
        "passed filter": r.passedFilter,
        "queue drops": r.queueDrops,
        "reached user space": r.delivered,
        "CPU ms": Number(r.cpuMs.toFixed(1)),
        "wall ms": Math.round(r.wallMs),
      })),
    );
    const on = results[0]!;
    const off = results[1]!;
    console.log(`receiver CPU, filter off / filter on: ${(off.cpuMs / Math.max(on.cpuMs, 0.001)).toFixed(1)}x`);
    console.log(`eBPF filter counters: passed ${counters.passed}, dropped ${counters.dropped}`);
    const ok = results.filter((r) => r.variant.startsWith("filter on")).every((r) => r.delivered === 0);
    console.log(ok ? "frames reaching user space with the filter: 0 (as required)" : "FILTER LEAK: frames reached user space");
    if (!ok) process.exitCode = 1;
  } finally {
    ebpf.close();
    removeAllNetns();
  }
}

await main();
