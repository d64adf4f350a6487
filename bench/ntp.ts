/**
 * Benchmark (not a test) of the NTP client (issue 10 item 6), side by side in one run in the same
 * namespaces: a chronyd server (`-x`) serving a clock 2 s ahead of the machine's (libfaketime),
 * measured by `paddock ntp --clock observe`, `chronyd -Q` (measures once, never sets the clock)
 * and ntpdig (ntpsec's; prints the offset, sets nothing), the clients interleaved run by run.
 * Root; it removes every namespace, process and file it made, also on failure or Ctrl-C:
 *   node_modules/.bin/tsx bench/ntp.ts [RUNS]          (default 5 runs per client)
 *
 * Measured (figures in docs/ntp.md):
 * - offset error: |measured offset| − 2 s (all three serve/measure the same machine clock, so the
 *   truth is exactly the faketime offset); medians over the runs;
 * - time to the first valid estimate: spawn → paddock's first adjustment in its store (the start
 *   burst: 8 samples), → chronyd -Q's exit (iburst, 4 samples) → ntpdig's exit (1 sample);
 * - memory: VmHWM (peak RSS) of paddock's priv and calf when the first estimate is there;
 * - CPU per poll, once the start burst is over: the CPU time (every thread's schedstat, ns) of
 *   paddock's whole process tree (priv, runc, calf) and of a chronyd client, both polling the one
 *   server every 64 s side by side for POLL_WINDOW_POLLS polls, divided by the requests each sent
 *   (paddock: the datagrams its data path sent; chronyd, which runs without a command port: the
 *   window over its fixed 64 s poll). Idle timers between polls count: that is what a poll costs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLab, processTree, startChrony, waitFor } from "@paddock/testkit";
import { startPaddockNtp } from "../test/ntp-lab.ts";
import { fmt, procMemory, summarize, table } from "./dhcp-lib.ts";

const RUNS = Number(process.argv[2] ?? 5);
/** Polls (64 s apart) the CPU-per-poll phase waits for after the start burst. */
const POLL_WINDOW_POLLS = 3;
const POLL_SECONDS = 64;

/** CPU time of processes so far (ns), every thread's /proc/PID/task/TID/schedstat; a process that ended counts 0. */
function cpuNs(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // gone
    }
  }
  return total;
}

/** One Prometheus sample (labels as given, in order) from a metrics Unix socket. */
function scrapeSample(socketPath: string, name: string, labels: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        const line = body.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
        resolve(line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : NaN);
      });
    }).on("error", reject);
  });
}
/** The server's known offset (libfaketime), in seconds. */
const TRUE_OFFSET = 2;
/**
 * One client's estimate: paddock's burst takes ~15 s, but when the filter's best sample is one of
 * the burst's first (more than ROUND_WINDOW_SECONDS old at its end) the first update waits for
 * the next round, a 64 s poll later; bound a hang well above.
 */
const ESTIMATE_TIMEOUT_MS = 150_000;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (process.getuid?.() !== 0) {
  console.error("bench/ntp.ts needs root (it creates network namespaces)");
  process.exit(1);
}
for (const [cmd, pkg] of [["chronyd", "chrony"], ["ntpdig", "ntpsec-ntpdig"], ["runc", "runc"], ["nsenter", "util-linux"]]) {
  if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/ntp.ts needs ${cmd} (Debian package ${pkg})`);
    process.exit(1);
  }
}
if (!existsSync(path.join(root, "packages/cli/dist/paddock.mjs"))) {
  console.error("the CLI bundle is missing: run node_modules/.bin/tsx scripts/build.ts");
  process.exit(1);
}

const NET = "10.175.0";
const SERVER = `${NET}.1`;
const lab = createLab({ prefix: "pdnhb" });
try {
  const server = lab.namespace("server", { ipv6: false });
  const client = lab.namespace("client", { ipv6: false });
  const link = lab.veth(server, client, { addresses: { a: `${SERVER}/24`, b: `${NET}.100/24` } });
  await startChrony(lab, server, { address: SERVER, fakeTime: `+${TRUE_OFFSET}s`, readyTimeoutMs: 20_000 });

  const errors: Record<string, number[]> = { paddock: [], "chronyd -Q": [], ntpdig: [] };
  const firstMs: Record<string, number[]> = { paddock: [], "chronyd -Q": [], ntpdig: [] };
  const privKiB: number[] = [];
  const calfKiB: number[] = [];

  for (let run = 0; run < RUNS; run++) {
    // paddock: a fresh service each run (fresh state, so every run has its start burst).
    const sub = createLab({ prefix: "pdnhc" });
    try {
      const t0 = performance.now();
      const { ntp, read, kv } = await startPaddockNtp(sub, client, link.b.name, [SERVER], { timeoutMs: ESTIMATE_TIMEOUT_MS });
      const offset = Number(await waitFor(() => read("/adjustment/offset"), { what: "paddock's first estimate", timeoutMs: ESTIMATE_TIMEOUT_MS, abortOnExit: ntp, state: () => ntp.tail() }));
      firstMs.paddock!.push(performance.now() - t0);
      errors.paddock!.push(Math.abs(offset) - TRUE_OFFSET);
      // The priv is paddock's own process; the calf is the node process runc started below it.
      const tree = processTree(ntp.pid!).map(procMemory).filter((m) => m !== undefined);
      privKiB.push(tree[0]!.hwmKiB);
      const calf = tree.slice(1).filter((m) => m.comm === "node");
      if (calf.length > 0) calfKiB.push(Math.max(...calf.map((m) => m.hwmKiB)));
      kv.close();
    } finally {
      await sub.destroy();
    }

    // chronyd -Q: measures with its iburst (4 samples) and exits; -x besides, it sets nothing.
    {
      const t0 = performance.now();
      const r = await lab.run(client, ["chronyd", "-Q", "-x", "-d", "-u", "root", "-t", "30", `server ${SERVER} iburst`, "cmdport 0", "bindcmdaddress /", `pidfile ${lab.uniqueFile("chronyq", ".pid")}`], { timeoutMs: ESTIMATE_TIMEOUT_MS });
      const m = /System clock wrong by (-?[0-9.]+) seconds/.exec(r.stdout + r.stderr);
      if (!m) throw new Error(`chronyd -Q printed no offset:\n${r.stdout}${r.stderr}`);
      firstMs["chronyd -Q"]!.push(performance.now() - t0);
      errors["chronyd -Q"]!.push(Math.abs(Number(m[1])) - TRUE_OFFSET);
    }

    // ntpdig: one request, the offset printed as JSON; it sets nothing without -s/-S.
    {
      const t0 = performance.now();
      const r = await lab.run(client, ["ntpdig", "-j", "-t", "5", SERVER], { timeoutMs: ESTIMATE_TIMEOUT_MS });
      const j = JSON.parse(r.stdout) as { offset: number };
      firstMs.ntpdig!.push(performance.now() - t0);
      errors.ntpdig!.push(Math.abs(j.offset) - TRUE_OFFSET);
    }
    console.error(`run ${run + 1}/${RUNS}: paddock ${(errors.paddock!.at(-1)! * 1e6).toFixed(1)} µs, chronyd -Q ${(errors["chronyd -Q"]!.at(-1)! * 1e6).toFixed(1)} µs, ntpdig ${(errors.ntpdig!.at(-1)! * 1e6).toFixed(1)} µs`);
  }

  // CPU per poll after the start burst: paddock and a chronyd client side by side, one server.
  const cpu: Record<string, number> = {};
  {
    const sub = createLab({ prefix: "pdnhp" });
    try {
      const metricsSocket = sub.file("metrics.sock");
      const conf = sub.file("chrony-client.conf");
      writeFileSync(conf, `server ${SERVER} iburst minpoll 6 maxpoll 6\ncmdport 0\nbindcmdaddress /\npidfile ${sub.file("chrony-client.pid")}\n`);
      const chrony = sub.spawn(client, ["chronyd", "-x", "-d", "-u", "root", "-f", conf], { name: "chronyd-client" });
      const { ntp, read, kv } = await startPaddockNtp(sub, client, link.b.name, [SERVER], { timeoutMs: ESTIMATE_TIMEOUT_MS, extraArgs: ["--metrics", metricsSocket] });
      await waitFor(() => read("/adjustment/offset"), { what: "paddock's first estimate", timeoutMs: ESTIMATE_TIMEOUT_MS, abortOnExit: ntp, state: () => ntp.tail() });
      const sent = () => scrapeSample(metricsSocket, "paddock_datapath_frames_total", 'direction="sent"');
      const tree = () => processTree(ntp.pid!);
      // The burst's last replies and the first publish settle before the window opens: one poll first.
      const settled = (await sent()) + 1;
      await waitFor(async () => ((await sent()) >= settled ? true : undefined), { what: "the first poll after the burst", timeoutMs: 2 * POLL_SECONDS * 1000 + 60_000, intervalMs: 200, abortOnExit: ntp });
      const sent0 = await sent();
      const p0 = cpuNs(tree());
      const c0 = cpuNs([chrony.pid!]);
      const t0 = performance.now();
      // Nothing is asked of the priv during the window (a scrape costs it CPU): a plain wait of
      // the window, then the datagrams it sent in it.
      await new Promise((r) => setTimeout(r, POLL_WINDOW_POLLS * POLL_SECONDS * 1000));
      const p1 = cpuNs(tree());
      const polls = (await sent()) - sent0;
      if (polls < 1) throw new Error(`paddock sent nothing in ${POLL_WINDOW_POLLS * POLL_SECONDS} s after its burst:\n${ntp.tail()}`);
      cpu.paddock = (p1 - p0) / polls;
      const chronyPolls = Math.max(1, Math.round((performance.now() - t0) / 1000 / POLL_SECONDS));
      cpu["chronyd (client)"] = (cpuNs([chrony.pid!]) - c0) / chronyPolls;
      kv.close();
    } finally {
      await sub.destroy();
    }
  }

  const us = (xs: number[]) => summarize(xs.map((x) => x * 1e6));
  const chronyMedian = us(errors["chronyd -Q"]!).median;
  console.log(`\nNTP benchmark: ${RUNS} runs per client, one chronyd ${TRUE_OFFSET} s ahead (libfaketime), over a veth between namespaces\n`);
  console.log(table([
    ["client", "offset error µs, median (min–max)", "|median| − |chronyd -Q's| µs", "first estimate s, median (min–max)"],
    ...Object.keys(errors).map((k) => [k, fmt(us(errors[k]!)), (Math.abs(us(errors[k]!).median) - Math.abs(chronyMedian)).toFixed(1), fmt(summarize(firstMs[k]!.map((x) => x / 1000)), 2)]),
  ]));
  console.log(`\npaddock memory (VmHWM) at the first estimate: priv ${fmt(summarize(privKiB.map((x) => x / 1024)))} MiB, calf ${fmt(summarize(calfKiB.map((x) => x / 1024)))} MiB`);
  console.log(`CPU per poll after the start burst (${POLL_WINDOW_POLLS} polls, ${POLL_SECONDS} s apart): paddock (priv, runc, calf) ${(cpu.paddock! / 1e6).toFixed(2)} ms, chronyd client ${(cpu["chronyd (client)"]! / 1e6).toFixed(2)} ms (ratio ${(cpu.paddock! / cpu["chronyd (client)"]!).toFixed(1)}×)`);
} finally {
  await lab.destroy();
}
