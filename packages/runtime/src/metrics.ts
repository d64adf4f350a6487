/**
 * The priv's metrics in the Prometheus text format (prom-client), served over HTTP on a Unix
 * socket or a loopback port. Every figure is read at scrape time from the component that owns
 * it (the KV server, each data-path relay, each filter, the handlers, the supervisor), so the
 * numbers cannot drift from the state they describe.
 */
import { chmodSync, existsSync, lstatSync, rmSync } from "node:fs";
import path from "node:path";
import type { Server } from "node:http";
import net from "node:net";
import type { Registry } from "prom-client";

/** A source of labelled values, read at each scrape. */
export type Sample = { labels: Record<string, string>; value: number };

/** One metric: its name, help, kind and how to read it. */
export interface MetricSource {
  name: string;
  help: string;
  /** Counters only ever grow; gauges go up and down. Both are exposed as read-at-scrape values. */
  type: "counter" | "gauge";
  labelNames: string[];
  read: () => Sample[];
}

const LOOPBACK_ADDRESS = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):(\d+)$/;

/** Why a metrics address cannot be used, in one sentence; null when it can. */
export function checkMetricsAddress(address: string): string | null {
  const tcp = LOOPBACK_ADDRESS.exec(address);
  if (tcp) return Number(tcp[2]) >= 1 && Number(tcp[2]) <= 65535 ? null : `metrics port ${tcp[2]} is not 1–65535`;
  if (address.startsWith("/")) return Buffer.byteLength(address) <= 107 ? null : `the metrics socket path ${address} is longer than a Unix socket path may be (107 bytes)`;
  return `metrics address ${JSON.stringify(address)} must be a Unix socket path or a loopback HOST:PORT (127.0.0.1:9100, [::1]:9100)`;
}

/** What is at a Unix socket path: nothing, a socket someone listens on, a dead socket, or another file. */
async function staleSocket(address: string): Promise<"none" | "live" | "dead" | "other"> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(address).isSocket();
  } catch {
    return "none";
  }
  if (!isSocket) return "other";
  return new Promise((resolve) => {
    const probe = net.connect(address);
    probe.once("connect", () => {
      probe.destroy();
      resolve("live");
    });
    probe.once("error", () => resolve("dead"));
  });
}

export class Metrics {
  private readonly sources: MetricSource[] = [];
  private registry: Registry | undefined;
  private server: Server | undefined;

  /** Adds a metric read at scrape time. */
  add(source: MetricSource): void {
    this.sources.push(source);
    this.registry = undefined;
  }

  /** The metrics added so far (to serve several hosts' metrics from one endpoint). */
  list(): readonly MetricSource[] {
    return [...this.sources];
  }

  /**
   * The exposition text. prom-client is loaded on the first scrape, not at start-up: a priv
   * without --metrics never pays for it.
   */
  async text(): Promise<string> {
    return (await this.prometheus()).metrics();
  }

  /** The exposition's content type. */
  async contentType(): Promise<string> {
    return (await this.prometheus()).contentType;
  }

  private async prometheus(): Promise<Registry> {
    if (this.registry) return this.registry;
    // prom-client is CommonJS: imported as an ES module from a chunk of the split CLI bundle, its
    // exports are the default export only (Node's own loader gives both).
    const mod = (await import("prom-client")) as typeof import("prom-client") & { default?: typeof import("prom-client") };
    const { Gauge, Registry } = mod.default ?? mod;
    const registry = new Registry();
    for (const source of this.sources) {
      const metric = new Gauge({
        name: source.name,
        help: source.help,
        labelNames: source.labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const s of source.read()) this.set(s.labels, s.value);
        },
      });
      // prom-client's Gauge has no counter type; set it for the exposition's # TYPE line.
      if (source.type === "counter") (metric as unknown as { type: string }).type = "counter";
    }
    this.registry = registry;
    return registry;
  }

  /**
   * Serves GET /metrics on `address`: a Unix socket path (made 0600) or "127.0.0.1:PORT" /
   * "[::1]:PORT" (loopback only: metrics describe the host's network configuration).
   */
  async listen(address: string): Promise<void> {
    // node:http is loaded here, not at start-up: a priv without --metrics serves no HTTP.
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url !== "/metrics" && req.url !== "/")) {
        res.writeHead(404).end("not found\n");
        return;
      }
      Promise.all([this.text(), this.contentType()]).then(
        ([body, type]) => res.writeHead(200, { "content-type": type }).end(body),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    });
    const problem = checkMetricsAddress(address);
    if (problem) throw new Error(problem);
    const tcp = LOOPBACK_ADDRESS.exec(address);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if (tcp) server.listen(Number(tcp[2]), tcp[1]!.replace(/^\[|\]$/g, ""), () => resolve());
      else if (address.startsWith("/")) {
        // libuv reports a missing directory as EACCES: say what is wrong instead.
        if (!existsSync(path.dirname(address))) return reject(new Error(`the directory ${path.dirname(address)} does not exist`));
        // Only a dead socket is replaced: a live one is another priv's (whose socket would vanish
        // under it), and anything else at the path is someone's file.
        void staleSocket(address).then((stale) => {
          if (stale === "live") return reject(Object.assign(new Error("the address is in use"), { code: "EADDRINUSE" }));
          if (stale === "other") return reject(new Error(`${address} exists and is not a socket`));
          if (stale === "dead") rmSync(address, { force: true });
          server.listen(address, () => resolve());
        });
      } else reject(new Error(`metrics address ${JSON.stringify(address)} must be a Unix socket path or a loopback HOST:PORT`));
    });
    if (!tcp) chmodSync(address, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
