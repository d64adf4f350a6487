/**
 * Helpers of bench/dhcp.ts: process trees and their memory from /proc, the DHCP timeline seen by
 * tcpdump on the server's side of the veth, summary statistics, and the lab of a DHCP bench
 * (bench/dhcp.ts, bench/apply.ts). Nothing here starts a process.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { createLab, processTree } from "@paddock/testkit";

/** Memory of one process, in KiB, from /proc/PID/status and /proc/PID/smaps_rollup. */
export interface ProcMemory {
  pid: number;
  comm: string;
  /** Peak resident set (VmHWM): what the targets are about. */
  hwmKiB: number;
  /** Resident now, split: anonymous (heap, stacks) and file-backed (mapped binary and libraries). */
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
  /** Proportional set size now: shared pages divided among the processes sharing them. */
  pssKiB: number;
}

function statusField(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(status);
  return m ? Number(m[1]) : NaN;
}

/** Memory of `pid`, or undefined when it has gone. */
export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    let pss = NaN;
    try {
      pss = statusField(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
    } catch {
      // smaps_rollup needs Linux 4.14; leave PSS unknown.
    }
    return {
      pid,
      comm: /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "?",
      hwmKiB: statusField(status, "VmHWM"),
      rssKiB: statusField(status, "VmRSS"),
      anonKiB: statusField(status, "RssAnon"),
      fileKiB: statusField(status, "RssFile") + statusField(status, "RssShmem"),
      pssKiB: pss,
    };
  } catch {
    return undefined;
  }
}

/** `pid` and all its descendants now alive: the kit's walk of /proc, the one its cleanup uses. */
export { processTree };

/** One DHCP packet seen on the server's interface: its kernel timestamp (Unix ms) and message type. */
export interface SeenPacket {
  timeMs: number;
  type: string;
}

/**
 * Parses `tcpdump -l -n -v -tt --time-stamp-precision=micro` output incrementally: a packet
 * starts with a line "SECONDS.MICROS IP …" and its DHCP message type (option 53) is on a later
 * line as "DHCP-Message (53), length 1: Discover".
 */
export class TcpdumpDhcpParser {
  readonly packets: SeenPacket[] = [];
  private rest = "";
  private pendingTime: number | undefined;

  push(chunk: string): void {
    const lines = (this.rest + chunk).split("\n");
    this.rest = lines.pop() ?? "";
    for (const line of lines) {
      const start = /^(\d+)\.(\d{6}) IP /.exec(line);
      if (start) {
        this.pendingTime = Number(start[1]) * 1000 + Number(start[2]) / 1000;
        continue;
      }
      const type = /DHCP-Message \(53\), length 1: (\w+)/.exec(line);
      if (type && this.pendingTime !== undefined) {
        this.packets.push({ timeMs: this.pendingTime, type: type[1]! });
        this.pendingTime = undefined;
      }
    }
  }

  /** The first packet of `type` at or after `fromMs`. */
  first(type: string, fromMs: number): SeenPacket | undefined {
    return this.packets.find((p) => p.type === type && p.timeMs >= fromMs);
  }
}

/** Median, minimum and maximum of samples (NaN samples are left out). */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const s = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]! };
}

/** "12.3 (10.1–15.0)", with `digits` decimals. */
export function fmt(s: Summary, digits = 1): string {
  if (s.n === 0) return "n/a";
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** Pads a table's columns to their widest cell; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(rows[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

/** The parts of a V8 .cpuprofile this module reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Where each line of an esbuild bundle came from: esbuild heads each module with "// path". */
function bundleModuleStarts(bundle: string): Array<{ line: number; origin: string }> {
  const starts: Array<{ line: number; origin: string }> = [];
  bundle.split("\n").forEach((text, i) => {
    const m = /^\/\/ (\S+\.(?:js|mjs|cjs|ts|json))$/.exec(text);
    if (!m) return;
    const file = m[1]!;
    const pnpm = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(file);
    const workspace = /^packages\/([^/]+)\//.exec(file);
    starts.push({ line: i, origin: pnpm ? pnpm[1]! : workspace ? `@paddock/${workspace[1]}` : file });
  });
  return starts;
}

/** Node internals worth naming: where a start-up's time goes before any package code runs. */
const NODE_FUNCTIONS: Record<string, string> = {
  compileSourceTextModule: "node: parse and compile the ES module (the bundle)",
  compileForInternalLoader: "node: load built-in modules (net, child_process, crypto, …)",
};

/**
 * The CLI bundle's chunks (esbuild code splitting: one per command module, shared ones named
 * `chunk-HASH`), by name without the content hash: "CLI chunk dhcp", "CLI chunk (shared)".
 */
function chunkOrigin(url: string): string | undefined {
  const m = /\/dist\/chunks\/(.+?)-[A-Z0-9]{8}\.mjs$/.exec(url);
  if (!m) return undefined;
  return m[1] === "chunk" ? "CLI chunk (shared)" : `CLI chunk ${m[1]}`;
}

/**
 * Self time (ms) of a CPU profile by origin: the npm or workspace package a bundle line came
 * from, "node internals" for Node's own JavaScript, and V8's "(program)", "(garbage collector)".
 */
export function cpuProfileByOrigin(profile: CpuProfile, bundleUrlSuffix: string, bundle: string): Map<string, number> {
  const starts = bundleModuleStarts(bundle);
  const originOf = (line: number): string => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = "top-level code of the bundled ES modules";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.origin;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const nodeOrigin = new Map<number, string>();
  for (const n of profile.nodes) {
    const { url, functionName, lineNumber } = n.callFrame;
    nodeOrigin.set(n.id, url.endsWith(bundleUrlSuffix) ? originOf(lineNumber) : url.startsWith("node:") ? NODE_FUNCTIONS[functionName] ?? "node internals (other)" : url === "" ? functionName : chunkOrigin(url) ?? url);
  }
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const o = nodeOrigin.get(id) ?? "?";
    out.set(o, (out.get(o) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

/**
 * A bench's lab (testkit: unique names, processes stopped by pid, namespaces, files and processes
 * removed at the end, also on Ctrl-C or after a killed run): a server namespace and a client
 * namespace joined by a veth pair, the server side at `serverAddress`/24; and dhcpcd's database
 * directory (it has no option to move it) put back as it was at the end.
 */
/** dhcpcd's database directory (it has no option to move it). */
export const DHCPCD_DB = "/var/lib/dhcpcd";

export function dhcpBenchLab(prefix: string, serverAddress: string) {
  const lab = createLab({ prefix });
  const link = (() => {
    try {
      return lab.veth(lab.namespace("s"), lab.namespace("c"), { addresses: { a: `${serverAddress}/24` } });
    } catch (e) {
      lab.destroySync();
      throw e;
    }
  })();
  const dhcpcdDbBefore = new Set(existsSync(DHCPCD_DB) ? readdirSync(DHCPCD_DB) : []);
  lab.defer(() => {
    if (existsSync(DHCPCD_DB)) {
      for (const f of readdirSync(DHCPCD_DB)) if (!dhcpcdDbBefore.has(f)) rmSync(path.join(DHCPCD_DB, f), { force: true });
    }
  });
  return { lab, link, serverNs: link.a.ns.name, clientNs: link.b.ns.name, serverIf: link.a.name, clientIf: link.b.name };
}
