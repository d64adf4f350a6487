/**
 * KV round trips over a Unix socket, side by side with a bare echo of the same messages.
 *
 * For each of read and write (a write is fsynced before its answer), it measures:
 *   - latency: one request at a time, p50 and p99 over N round trips;
 *   - throughput: 32 requests in flight for a fixed time, round trips per second.
 * Each figure is the median of ROUNDS runs; the ratio to the echo is the store's cost.
 * Run in the foreground: `node_modules/.bin/tsx bench/kv.ts`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connectKv, KvClient } from "@paddock/kv";

const ROUNDS = 5;
const LATENCY_N = 2000;
const THROUGHPUT_MS = 1500;
const IN_FLIGHT = 32;
const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = path.join(here, "../node_modules/.bin/tsx");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function startPeer(mode: "kv" | "echo", dir: string): Promise<{ child: ChildProcess; socket: string }> {
  const socket = path.join(dir, `${mode}.sock`);
  const child = spawn(tsx, [path.join(here, "kv-peer.ts"), mode, socket, path.join(dir, `${mode}-state`)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => c.toString().includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`${mode} peer exited with ${code}`)));
  });
  return { child, socket };
}

type Op = (c: KvClient, i: number) => Promise<unknown>;
const ops: Record<string, Op> = {
  read: (c) => c.read("/state/bench"),
  write: (c, i) => c.write("/state/bench", `value-${i % 1000}`),
};

async function latency(c: KvClient, op: Op): Promise<{ p50: number; p99: number }> {
  const xs: number[] = [];
  for (let i = 0; i < LATENCY_N; i++) {
    const t = process.hrtime.bigint();
    await op(c, i);
    xs.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return { p50: pct(xs, 0.5), p99: pct(xs, 0.99) };
}

async function throughput(c: KvClient, op: Op): Promise<number> {
  let done = 0;
  const end = performance.now() + THROUGHPUT_MS;
  const worker = async () => {
    while (performance.now() < end) {
      await op(c, done);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return done / ((performance.now() - start) / 1000);
}

const dir = mkdtempSync(path.join(tmpdir(), "paddock-bench-kv-"));
const peers: ChildProcess[] = [];
try {
  const results: Record<string, Record<string, { p50: number[]; p99: number[]; rps: number[] }>> = {};
  const clients: Record<string, KvClient> = {};
  for (const mode of ["kv", "echo"] as const) {
    const { child, socket } = await startPeer(mode, dir);
    peers.push(child);
    clients[mode] = await connectKv(socket, { timeoutMs: 30_000 });
  }
  await clients.kv!.write("/state/bench", "seed");
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first so neither always runs on a warmer machine.
    const order = round % 2 === 0 ? (["kv", "echo"] as const) : (["echo", "kv"] as const);
    for (const mode of order) {
      for (const [name, op] of Object.entries(ops)) {
        const r = ((results[name] ??= {})[mode] ??= { p50: [], p99: [], rps: [] });
        const l = await latency(clients[mode]!, op);
        r.p50.push(l.p50);
        r.p99.push(l.p99);
        r.rps.push(await throughput(clients[mode]!, op));
      }
    }
  }
  const rows: string[] = [];
  rows.push(`KV round trips over a Unix socket, median of ${ROUNDS} rounds (latency: ${LATENCY_N} sequential; throughput: ${IN_FLIGHT} in flight for ${THROUGHPUT_MS} ms)`);
  rows.push("| op | server | p50 µs | p99 µs | round trips/s | store ÷ echo (p50) | echo ÷ store (rate) |");
  rows.push("|---|---|---|---|---|---|---|");
  for (const [name, byMode] of Object.entries(results)) {
    const kv = byMode.kv!;
    const echo = byMode.echo!;
    for (const [mode, r] of [["paddock kv", kv], ["bare echo", echo]] as const) {
      const ratio = mode === "paddock kv" ? `${(median(kv.p50) / median(echo.p50)).toFixed(2)}×` : "";
      const rate = mode === "paddock kv" ? `${(median(echo.rps) / median(kv.rps)).toFixed(2)}×` : "";
      rows.push(`| ${name} | ${mode} | ${median(r.p50).toFixed(0)} | ${median(r.p99).toFixed(0)} | ${median(r.rps).toFixed(0)} | ${ratio} | ${rate} |`);
    }
  }
  console.log(rows.join("\n"));
  for (const c of Object.values(clients)) c.close();
} finally {
  for (const p of peers) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
