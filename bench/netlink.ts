/**
 * Benchmark (not a test): one network change — add an IPv4 address, add a default route via a
 * gateway on it, delete the route, delete the address — made N times through the rtnetlink
 * client and N times with iproute2, in the same run, in a throwaway namespace. Root; run in the
 * foreground (a backgrounded benchmark is paused with the session, DESIGN.md):
 *   node_modules/.bin/tsx bench/netlink.ts [N]
 *
 * Variants, interleaved per iteration so load on the shared machine hits all of them alike:
 *   client/name   the client with the link given by name (one RTM_GETLINK per address/route call)
 *   client/index  the client with the ifindex (what priv does once it knows the link)
 *   ip            four `ip -n NS …` processes (addr add, route add, route del, addr del)
 *   ip -batch     one `ip -n NS -batch -` process running the same four commands
 * Reported: median and p99 of one whole change, in ms, and each variant's median / client's.
 */

import { execFileSync } from "node:child_process";
import { createLab } from "@paddock/testkit";
import { openRtnetlink, RTPROT_PADDOCK } from "../packages/netlink/src/index.ts";

/** Iterations per variant: enough for a stable p99 (2 samples above it at 200), a few seconds in all. */
const N = Number(process.argv[2] ?? 200);
/** Untimed iterations first, so JIT warm-up and the page cache do not count against either side. */
const WARMUP = 10;

if (process.getuid?.() !== 0) {
  console.error("bench/netlink.ts needs root (it creates a network namespace)");
  process.exit(1);
}

const ip = (...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { stdio: ["ignore", "ignore", "pipe"] });

const ADDRESS = "10.60.0.5/24";
const GATEWAY = "10.60.0.1";

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

// A testkit lab: unique names, and the namespace deleted also on Ctrl-C or after a killed run.
const lab = createLab({ prefix: "pnlb" });
const { ns, v0, client } = (() => {
  try {
    const netns = lab.namespace("n");
    const link = lab.veth(netns, netns);
    return { ns: netns.name, v0: link.a.name, client: openRtnetlink({ netnsPath: netns.path }) };
  } catch (e) {
    lab.destroySync();
    throw e;
  }
})();

try {
  const index = (await client.getLink(v0)).index;

  const variants: Record<string, () => Promise<void> | void> = {
    "client/name": async () => {
      await client.addAddress({ link: v0, address: ADDRESS });
      await client.addRoute({ destination: "default", gateway: GATEWAY, link: v0 });
      await client.deleteRoute({ destination: "default" });
      await client.deleteAddress({ link: v0, address: ADDRESS });
    },
    "client/index": async () => {
      await client.addAddress({ link: index, address: ADDRESS });
      await client.addRoute({ destination: "default", gateway: GATEWAY, link: index });
      await client.deleteRoute({ destination: "default" });
      await client.deleteAddress({ link: index, address: ADDRESS });
    },
    ip: () => {
      ip("addr", "add", ADDRESS, "brd", "+", "dev", v0);
      ip("route", "add", "default", "via", GATEWAY, "dev", v0, "proto", String(RTPROT_PADDOCK));
      ip("route", "del", "default", "proto", String(RTPROT_PADDOCK));
      ip("addr", "del", ADDRESS, "dev", v0);
    },
    "ip -batch": () => {
      execFileSync("ip", ["-n", ns, "-batch", "-"], {
        input: [
          `addr add ${ADDRESS} brd + dev ${v0}`,
          `route add default via ${GATEWAY} dev ${v0} proto ${RTPROT_PADDOCK}`,
          `route del default proto ${RTPROT_PADDOCK}`,
          `addr del ${ADDRESS} dev ${v0}`,
          "",
        ].join("\n"),
        stdio: ["pipe", "ignore", "pipe"],
      });
    },
  };

  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < WARMUP + N; i++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint();
      await run();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= WARMUP) samples[name]!.push(ms);
    }
  }

  // Every variant must leave the namespace as it found it, or the timings compare different work.
  const left = execFileSync("ip", ["-n", ns, "-4", "-j", "addr", "show", "dev", v0], { encoding: "utf8" });
  if (left.includes("10.60.0.5")) throw new Error("an iteration left the address behind");

  const median = (k: string) => quantile([...samples[k]!].sort((a, b) => a - b), 0.5);
  const base = median("client/index");
  console.log(`netlink change (addr add + default route add + route del + addr del), N=${N}, ${new Date().toISOString()}`);
  console.log("variant        median ms   p99 ms   median / client/index");
  for (const k of Object.keys(variants)) {
    const s = [...samples[k]!].sort((a, b) => a - b);
    console.log(`${k.padEnd(14)} ${quantile(s, 0.5).toFixed(3).padStart(9)} ${quantile(s, 0.99).toFixed(3).padStart(8)}   ${(quantile(s, 0.5) / base).toFixed(1)}x`);
  }
} finally {
  client.close();
  await lab.destroy();
}
