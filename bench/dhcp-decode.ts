/**
 * Benchmark (not a test): DHCP packets decoded per second on the 500-packet flood capture
 * (../shared/pcaps/public/zeek/dhcp_flood.pcap). Run in the foreground:
 *   node_modules/.bin/tsx bench/dhcp-decode.ts
 *
 * Three stages, each the median of RUNS runs of at least MIN_RUN_MS:
 *   frame    decodeDhcpFrame on frames already split out of the file (the calf's hot path)
 *   capture  decodeCapture: pcap reading + decode + JSON objects
 *   cli      decodeCapture + JSON.stringify of every line (what `paddock dhcp decode` does)
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeCapture, decodeDhcpFrame, readCapture } from "../packages/services/dhcp4/core/src/index.ts";

/** Enough runs for a stable median on a shared 2-core machine, few enough to finish in seconds. */
const RUNS = 9;
/** Each run long enough that timer resolution and one GC pause do not dominate. */
const MIN_RUN_MS = 250;

const file = join(import.meta.dirname, "../../shared/pcaps/public/zeek/dhcp_flood.pcap");
const bytes = new Uint8Array(readFileSync(file));
const capture = readCapture(bytes);
if (!capture.ok) throw new Error(capture.error.detail);
const frames = capture.value.packets.map((p) => p.data);
const packets = frames.length;

function measure(pass: () => number): number {
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    do {
      n += pass();
      elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    } while (elapsed < MIN_RUN_MS);
    rates.push(n / (elapsed / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}

let sink = 0;
const stages: [string, () => number][] = [
  [
    "frame",
    () => {
      for (const f of frames) if (decodeDhcpFrame(f).ok) sink++;
      return packets;
    },
  ],
  [
    "capture",
    () => {
      const d = decodeCapture(bytes);
      if (d.ok) sink += d.value.lines.length;
      return packets;
    },
  ],
  [
    "cli",
    () => {
      const d = decodeCapture(bytes);
      if (d.ok) sink += d.value.lines.map((l) => JSON.stringify(l)).join("\n").length;
      return packets;
    },
  ],
];

// Warm up the JIT on every stage before measuring any.
for (const [, pass] of stages) for (let i = 0; i < 20; i++) pass();

console.log(`dhcp_flood.pcap: ${packets} packets, ${bytes.length} bytes; median of ${RUNS} runs ≥ ${MIN_RUN_MS} ms`);
console.log("stage     packets/s     µs/packet");
for (const [name, pass] of stages) {
  const rate = measure(pass);
  console.log(`${name.padEnd(8)} ${Math.round(rate).toLocaleString("en-US").padStart(11)} ${(1e6 / rate).toFixed(2).padStart(13)}`);
}
if (sink < 0) console.log(sink);
