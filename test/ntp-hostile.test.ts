/**
 * The NTP service against hostile servers (issue 10 items 5 and 7), in namespaces: `paddock ntp`
 * with its calf under runc polls fourteen addresses served by one responder written for the test
 * (test/ntp-responder.mjs, node:dgram in the server namespace). Three are honest and announce a
 * leap second (LI 1); the others answer with a KoD RATE, a KoD DENY, stratum 16, LI 3, a wrong
 * origin timestamp, from a wrong port, from a wrong address, truncated, as mode 6 or mode 7, or
 * not at all. Every outcome is read from the service's own output — the calf's status in the
 * store, the metrics it serves, its log — once the responder's log shows the replies were sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import path from "node:path";
import type { KvClient } from "@paddock/kv";
import { canCreateLabs, createLab, LAB_SKIP_REASON, waitFor, type Lab, type LabProcess, type PaddockProcess } from "@paddock/testkit";
import { startPaddockNtp } from "./ntp-lab.ts";

const NET = "10.173.0";
const HONEST = [`${NET}.1`, `${NET}.2`, `${NET}.3`];
/** Each hostile behaviour on its own address (the responder's argument: ADDRESS=BEHAVIOUR[=ARG]). */
const HOSTILE = {
  rate: `${NET}.4`,
  deny: `${NET}.5`,
  stratum16: `${NET}.6`,
  li3: `${NET}.7`,
  "bad-origin": `${NET}.8`,
  "bad-port": `${NET}.9`,
  "bad-address": `${NET}.10`,
  truncated: `${NET}.11`,
  mode6: `${NET}.12`,
  mode7: `${NET}.13`,
  silent: `${NET}.14`,
} as const;
/** Where the bad-address server's replies come from: an address of the server namespace that is no configured server. */
const WRONG_ADDRESS = `${NET}.50`;
const WRONG_PORT = 1123;
const SERVERS = [...HONEST, ...Object.values(HOSTILE)];
/**
 * The start burst (8 samples, 2 s apart) and selection take ~16 s; on a starved machine a burst
 * that lost replies leaves the first estimate to the next round, a 64 s poll later: bound hangs above that.
 */
const TIMEOUT_MS = 120_000;
/** Requests a source gets in its start burst before the first adjustment can exist. */
const BURST_REQUESTS = 8;

/** GET /metrics over the Unix socket the priv serves them on. */
function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: "/metrics", timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("metrics scrape timed out")));
    req.on("error", reject);
  });
}

/** The value of the sample of `name` whose labels include `labels`; undefined when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/gi)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe.skipIf(!canCreateLabs)(`paddock ntp against hostile servers (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let ntp: PaddockProcess;
  let responder: LabProcess;
  let kv: KvClient | undefined;
  let metricsSocket: string;

  beforeAll(async () => {
    lab = createLab({ prefix: "pdnh" });
    const server = lab.namespace("server", { ipv6: false });
    const client = lab.namespace("client", { ipv6: false });
    const link = lab.veth(server, client, { addresses: { a: `${SERVERS[0]}/24`, b: `${NET}.100/24` } });
    for (const a of [...SERVERS.slice(1), WRONG_ADDRESS]) lab.ip(server, ["addr", "add", `${a}/24`, "dev", link.a.name]);
    const specs = [
      ...HONEST.map((a) => `${a}=leap`),
      ...Object.entries(HOSTILE).map(([kind, a]) => `${a}=${kind}${kind === "bad-port" ? `=${WRONG_PORT}` : kind === "bad-address" ? `=${WRONG_ADDRESS}` : ""}`),
    ];
    responder = lab.spawn(server, [process.execPath, path.join(import.meta.dirname, "ntp-responder.mjs"), ...specs], { name: "ntp responder" });
    await responder.waitForLog(/^ready$/, { timeoutMs: 20_000 });
    metricsSocket = lab.file("metrics.sock");
    ({ ntp, kv } = await startPaddockNtp(lab, client, link.b.name, SERVERS, { extraArgs: ["--metrics", metricsSocket], timeoutMs: TIMEOUT_MS }));
  }, TIMEOUT_MS + 30_000);

  afterAll(async () => {
    kv?.close();
    await lab?.destroy();
  });

  const read = async (p: string) => {
    try {
      return await kv!.read(p);
    } catch {
      return undefined;
    }
  };
  /** A source's published status by its address (the calf numbers sources in configuration order). */
  const source = async (address: string) => {
    const i = SERVERS.indexOf(address).toString().padStart(3, "0");
    expect(await read(`/source/${i}/address`)).toBe(address);
    return { state: await read(`/source/${i}/state`), reach: Number(await read(`/source/${i}/reach`)), poll: Number(await read(`/source/${i}/poll`)), offset: await read(`/source/${i}/offset`) };
  };
  const until = <T>(what: string, check: () => Promise<T | undefined>) => waitFor(check, { what, timeoutMs: TIMEOUT_MS, abortOnExit: ntp, state: () => `${ntp.tail()}\nresponder:\n${responder.tail()}` });
  /** Waits until the responder has answered `address` `count` times (it logs each reply it sends). */
  const answered = (address: string, count: number) => until(`${count} replies from ${address}`, async () => (responder.lines(new RegExp(`^sent \\S+ for ${address.replaceAll(".", "\\.")}$`)).length >= count ? true : undefined));

  it("three honest servers announcing a leap second are selected, and the adjustment carries the leap", async () => {
    await until("an adjustment announcing a leap second to insert", async () => ((await read("/adjustment/leap")) === "insert" ? true : undefined));
    const states = await Promise.all(HONEST.map(async (h) => (await source(h)).state));
    expect(states.filter((s) => s === "selected")).toHaveLength(1);
    expect(states.every((s) => s === "selected" || s === "candidate")).toBe(true);
    // All serve this machine's clock: the estimate is near 0 (the responder's clock is node's, within a few ms).
    expect(Math.abs(Number(await read("/adjustment/offset")))).toBeLessThan(0.01);
  }, 2 * TIMEOUT_MS);

  it("a KoD RATE backs the source's poll off above the system's; a KoD DENY drops the source", async () => {
    const rate = await until("the RATE source's poll to back off", async () => {
      const s = await source(HOSTILE.rate);
      return s.poll > (await source(HONEST[0]!)).poll ? s : undefined;
    });
    expect(rate.poll).toBeGreaterThanOrEqual(128);
    await until("the DENY source to be dropped", async () => ((await source(HOSTILE.deny)).state === "kod" ? true : undefined));
    await ntp.waitForLog(new RegExp(`${HOSTILE.rate.replaceAll(".", "\\.")}.*sent kiss-o'-death RATE: its poll is now`), { timeoutMs: TIMEOUT_MS });
    await ntp.waitForLog(new RegExp(`${HOSTILE.deny.replaceAll(".", "\\.")}.*sent kiss-o'-death DENY: it is not asked again`), { timeoutMs: TIMEOUT_MS });
  }, 2 * TIMEOUT_MS);

  it("stratum 16 and LI 3 answer but are unfit: reached, never measured", async () => {
    for (const a of [HOSTILE.stratum16, HOSTILE.li3]) {
      const s = await until(`${a} to be unfit`, async () => {
        const x = await source(a);
        return x.state === "unfit" && x.reach > 0 ? x : undefined;
      });
      expect(s.offset).toBeUndefined();
      await ntp.waitForLog(new RegExp(`${a.replaceAll(".", "\\.")}.*is unsynchronized`), { timeoutMs: TIMEOUT_MS });
    }
  }, 2 * TIMEOUT_MS);

  it("replies with a wrong origin, from a wrong port or address, truncated, or in mode 6/7 never reach the source; silence neither", async () => {
    const bad = [HOSTILE["bad-origin"], HOSTILE["bad-port"], HOSTILE["bad-address"], HOSTILE.truncated, HOSTILE.mode6, HOSTILE.mode7];
    // Each got its burst's worth of (bad) replies, so a reply taken would have set a reach bit.
    for (const a of bad) await answered(a, BURST_REQUESTS);
    for (const a of [...bad, HOSTILE.silent]) {
      const s = await source(a);
      expect({ address: a, state: s.state, reach: s.reach, offset: s.offset }).toEqual({ address: a, state: "unreachable", reach: 0, offset: undefined });
    }
    // The honest sources are untouched by all this.
    for (const h of HONEST) expect((await source(h)).reach).toBeGreaterThan(0);
  }, 3 * TIMEOUT_MS);

  it("--metrics shows each source's state, reach, poll, delay and jitter, and the last adjustment (issue 10 item 7)", async () => {
    await until("the handler's first report", async () => ((await read("/clock/applied/result")) !== undefined ? true : undefined));
    const text = await until("metrics with the DENY source as kod", async () => {
      const t = await scrape(metricsSocket);
      return metricValue(t, "paddock_ntp_source_state", { source: HOSTILE.deny, state: "kod" }) === 1 ? t : undefined;
    });
    const selected = HONEST.filter((h) => metricValue(text, "paddock_ntp_source_state", { source: h, state: "selected" }) === 1);
    expect(selected).toHaveLength(1);
    expect(metricValue(text, "paddock_ntp_source_state", { source: HOSTILE.silent, state: "unreachable" })).toBe(1);
    expect(metricValue(text, "paddock_ntp_source_state", { source: HOSTILE.silent, state: "selected" })).toBe(0);
    expect(metricValue(text, "paddock_ntp_source_state", { source: HOSTILE.stratum16, state: "unfit" })).toBe(1);
    expect(metricValue(text, "paddock_ntp_source_reach", { source: HOSTILE.silent })).toBe(0);
    expect(metricValue(text, "paddock_ntp_source_reach", { source: selected[0]! })).toBeGreaterThan(0);
    expect(metricValue(text, "paddock_ntp_source_poll_seconds", { source: HOSTILE.rate })).toBeGreaterThanOrEqual(128);
    for (const h of HONEST) {
      expect(metricValue(text, "paddock_ntp_source_delay_seconds", { source: h })).toBeGreaterThan(0);
      expect(metricValue(text, "paddock_ntp_source_jitter_seconds", { source: h })).toBeGreaterThanOrEqual(0);
      expect(Math.abs(metricValue(text, "paddock_ntp_source_offset_seconds", { source: h })!)).toBeLessThan(0.01);
    }
    // A source never measured has no offset, delay or jitter series (not a 0 that reads as perfect).
    expect(metricValue(text, "paddock_ntp_source_delay_seconds", { source: HOSTILE.silent })).toBeUndefined();
    expect(Math.abs(metricValue(text, "paddock_ntp_adjustment_offset_seconds", {})!)).toBeLessThan(0.01);
    expect(metricValue(text, "paddock_ntp_adjustment_max_error_seconds", {})).toBeGreaterThan(0);
    expect(metricValue(text, "paddock_ntp_clock_applied", { result: "observed", code: "none" })).toBe(1);
    expect(metricValue(text, "paddock_ntp_clock_applied_offset_seconds", {})).toBe(0);
  }, 2 * TIMEOUT_MS);
});
