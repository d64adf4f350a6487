/**
 * `paddock lab ntp`: the NTP service against real chronyd servers, in two throwaway network
 * namespaces built with @paddock/testkit, observing only (it never touches the clock):
 *
 *   pdlntXXXX-server                                          pdlntXXXX-client
 *   chronyd on 10.78.0.1, .2, .3 and .4 (+2 s, libfaketime)  ── veth ──  paddock ntp --clock observe
 *
 * All four serve the machine's own clock (namespaces share it), one of them shifted by 2 s, so the
 * truth is an offset of 0. It prints each source's state (the liar should be a falseticker), the
 * selection, the adjustment the calf asked for and what the clock handler would do, then removes
 * everything, also on Ctrl-C or failure.
 */
import { connectKv } from "@paddock/kv";
import type { Command } from "commander";
import { startChrony, startPaddock, waitFor } from "@paddock/testkit";
import { runLabCommand, inTwoNamespaces } from "./lab-common.ts";
import { calfRuntimesUsed } from "./lab.ts";

/** The lab's network: a private range used only inside the lab's own namespaces. */
const NET = "10.78.0";
const HONEST = [`${NET}.1`, `${NET}.2`, `${NET}.3`];
const LIAR = `${NET}.4`;
const LIE = "+2s";

async function labNtp(opts: { timeout: string }): Promise<void> {
  await runLabCommand("paddock lab ntp", opts.timeout, ["ip", "nsenter", "chronyd", "runc"], (timeoutMs) => runLab(timeoutMs));
}

async function runLab(timeoutMs: number): Promise<void> {
  await inTwoNamespaces("pdlnt", ["server", "client"], async (l, server, client) => {
    const link = l.veth(server, client, { addresses: { a: `${HONEST[0]}/24`, b: `${NET}.100/24` } });
    for (const a of [...HONEST.slice(1), LIAR]) l.ip(server, ["addr", "add", `${a}/24`, "dev", link.a.name]);
    for (const address of HONEST) await startChrony(l, server, { address });
    await startChrony(l, server, { address: LIAR, fakeTime: LIE });
    console.log(`== chronyd (-x: never adjusts the clock) on ${HONEST.join(", ")} in ${server.name}, and on ${LIAR} lying by ${LIE} (libfaketime)`);
    const adminSocket = l.file("ntp.sock");
    const runtimeDir = l.file("run");
    const shim = startPaddock(l, client, ["ntp", "--iface", link.b.name, ...[...HONEST, LIAR].flatMap((s) => ["--server", s]), "--clock", "observe",
      "--state-dir", l.file("state"), "--runtime-dir", runtimeDir, "--admin-socket", adminSocket], { bin: process.argv[1]! });
    console.log(`== paddock ntp --iface ${link.b.name} --clock observe in ${client.name} (the clock handler only reports)`);
    const start = Date.now();
    await shim.waitForLog(/NTP client started/, { timeoutMs });
    console.log(`== the calf runs under ${calfRuntimesUsed(runtimeDir)}`);
    const kv = await connectKv(adminSocket);
    try {
      const read = (p: string) => kv.read(p).catch(() => undefined);
      await waitFor(async () => (await read("/clock/applied/result")) !== undefined, { what: "the clock handler's first report (after the start burst)", timeoutMs, abortOnExit: shim, state: () => shim.output.slice(-2000) });
      console.log(`\n== first adjustment ${((Date.now() - start) / 1000).toFixed(1)} s after the service started`);
      // The liar's burst may still run then: give selection a few more samples to mark it.
      const settled = async () => {
        const states = await Promise.all([0, 1, 2, 3].map((i) => read(`/source/00${i}/state`)));
        return states.every((x) => x === "selected" || x === "candidate" || x === "falseticker");
      };
      await waitFor(settled, { what: "every source to be selected, a candidate or a falseticker", timeoutMs: Math.min(timeoutMs, 30_000), abortOnExit: shim }).catch(() => console.log("== (selection has not settled yet; showing it as it is)"));
      console.log(`== after ${((Date.now() - start) / 1000).toFixed(1)} s:\n`);
      console.log("source         state         reach  offset (ms)   delay (ms)  jitter (ms)");
      for (let i = 0; i < 4; i++) {
        const at = `/source/${String(i).padStart(3, "0")}`;
        const [address, state, reach, offset, delay, jitter] = await Promise.all(["address", "state", "reach", "offset", "delay", "jitter"].map((k) => read(`${at}/${k}`)));
        const ms = (v: string | undefined) => (v === undefined ? "-" : (Number(v) * 1000).toFixed(3)).padStart(11);
        console.log(`${(address ?? "?").padEnd(14)} ${(state ?? "?").padEnd(12)} ${Number(reach ?? 0).toString(8).padStart(5)} ${ms(offset)} ${ms(delay)} ${ms(jitter)}`);
      }
      const [offset, frequency, step, maxError, result] = await Promise.all(["/adjustment/offset", "/adjustment/frequency", "/adjustment/step", "/adjustment/max-error", "/clock/applied/result"].map(read));
      console.log(`\nadjustment: offset ${offset} s (the truth is 0), frequency ${frequency} ppm, step ${step === "true" ? "asked" : "not asked"}, max error ${maxError} s`);
      const would = /clock observe: would [^"\n]*?(?= [a-z]+=|$)/m.exec(shim.output)?.[0];
      console.log(`clock handler: ${result}${would ? ` — ${would}` : ""}`);
    } finally {
      kv.close();
    }
  });
}

/** `paddock lab ntp`, a subcommand of `paddock lab`. */
export function registerLabNtp(lab: Command): void {
  lab
    .command("ntp")
    .description("run the NTP service (observe only) against three chronyd and one lying by 2 s in throwaway namespaces, show each source's state and the adjustment, and clean up (root)")
    // `paddock lab --timeout S ntp` and `paddock lab ntp --timeout S` both reach `lab`'s own option.
    .action((_opts: unknown, cmd: Command) => labNtp(cmd.parent!.opts<{ timeout: string }>()));
}
