/**
 * Small helpers for tests that run the real shim in network namespaces.
 */
import { spawnSync } from "node:child_process";
import http from "node:http";

let counter = 0;

/** A unique short name (≤ 15 bytes, the interface-name limit) for this process. */
export function uniqueName(prefix: string): string {
  counter += 1;
  const name = `${prefix}${process.pid % 100000}${counter}`;
  if (name.length > 15) throw new Error(`name too long: ${name}`);
  return name;
}

/** Runs a command; returns stdout; throws with its stderr when it fails. */
export function sh(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * Runs a command inside a namespace with nsenter --net (never `ip netns exec`, which remounts
 * /sys and breaks runc; DESIGN.md measured facts).
 */
export function inNetns(ns: string, cmd: string, args: readonly string[]): string {
  return sh("nsenter", [`--net=/run/netns/${ns}`, cmd, ...args]);
}

/** `ip -j -n NS ARGS…` parsed. */
export function ipJson<T = unknown>(ns: string, args: readonly string[]): T {
  const out = sh("ip", ["-j", "-n", ns, ...args]).trim();
  return (out === "" ? [] : JSON.parse(out)) as T;
}

/** Polls `probe` until it returns a value (not undefined) or `ms` pass; `context` explains a timeout. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000, context: () => string = () => ""): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve().then(probe).catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET /metrics over a Unix socket. */
export function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: "/metrics" }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/** The sum of a metric's samples whose labels include `labels`. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}
