/**
 * `paddock lab`: the DHCP shim against a real DHCP server, in two throwaway network namespaces
 * built with @paddock/testkit (docs/testkit.md), the same kit the integration tests use.
 *
 *   pdlabXXXX-server                                pdlabXXXX-client
 *   dnsmasq on IF0 10.77.0.1/24  ── veth pair ──  IF1 ← paddock dhcp (priv + calf under runc or crun)
 *
 * It prints what the shim applied (address, routes, MTU, resolv.conf), the KV audit log and the
 * calf's sandbox as observed from outside, then removes everything: also on Ctrl-C or failure
 * (and a killed run's leftovers are removed by the next one). Nothing touches the host's own
 * network or /etc/resolv.conf.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { defaultOffer, ipJson, listCalfContainers, startDnsmasq, startPaddock, waitFor } from "@paddock/testkit";
import { CALF_QUICKJS_PATH, capabilitiesInMask } from "@paddock/runtime";
import { runLabCommand, inTwoNamespaces } from "./lab-common.ts";

/** The lab's network: a private range used only inside the lab's own namespaces. */
const NET = "10.77.0";
/** What dnsmasq hands out: a router, DNS, domain, search list, MTU and a classless route. */
const OFFER = defaultOffer(NET, { dns: [`${NET}.1`], domain: "lab.test", search: ["lab.test", "anc.test"], mtu: 1400, leaseSeconds: 3600 });

interface LabOptions {
  keep?: boolean;
  timeout: string;
}

interface IpAddr { ifname: string; mtu: number; addr_info: Array<{ family: string; local: string; prefixlen: number; valid_life_time: number; preferred_life_time: number }> }
interface IpRoute { dst: string; gateway?: string; dev: string; protocol?: string }

/** One `Name: value` field of a /proc status file. */
function statusField(status: string, name: string): string {
  return new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "?";
}

/** The calf's properties read from /proc, in one line. */
function describeCalf(runtimeDir: string): string {
  const calf = listCalfContainers(runtimeDir).find((c) => c.status === "running");
  if (!calf) return "calf: not running";
  const status = readFileSync(`/proc/${calf.pid}/status`, "utf8");
  const field = (name: string) => statusField(status, name);
  const caps = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].every((c) => /^0+$/.test(field(c))) ? "none" : "SOME";
  const ownNs = ["net", "pid", "mnt", "ipc", "uts", "user", "cgroup"].filter((n) => readlinkSync(`/proc/${calf.pid}/ns/${n}`) !== readlinkSync(`/proc/self/ns/${n}`));
  const fds = readdirSync(`/proc/${calf.pid}/fd`).length;
  const env = readFileSync(`/proc/${calf.pid}/environ`, "utf8").split("\0").filter(Boolean).join(" ") || "(empty)";
  return `calf ${calf.id} (${calf.runtime}): pid ${calf.pid}, uid ${field("Uid").split(/\s+/)[0]} on the host, capabilities ${caps}, NoNewPrivs ${field("NoNewPrivs")}, seccomp mode ${field("Seccomp")}, own namespaces ${ownNs.join(",")}, ${fds} fds, environment ${env}, ${calfEngineSeen(calf.pid)}`;
}

/** The calf's engine as its command line shows it: QuickJS (an interpreter) or Node, and whether Node runs without its JIT. */
function calfEngineSeen(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  if (argv[0] === CALF_QUICKJS_PATH) return "engine QuickJS (an interpreter: no JIT)";
  return `engine Node, jitless ${argv.includes("--jitless") ? "yes" : "no"}`;
}

/** The runtimes (runc, crun) the running calves under `runtimeDir` use, e.g. "crun": `auto` may pick either. */
export function calfRuntimesUsed(runtimeDir: string): string {
  const used = [...new Set(listCalfContainers(runtimeDir).filter((c) => c.status === "running").map((c) => c.runtime))];
  return used.length > 0 ? used.join(" and ") : "no runtime (no calf running)";
}

/** The priv's own sandbox read from /proc (docs/security-model.md §5), in one line. */
function describePriv(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => statusField(status, name);
  const caps = capabilitiesInMask(field("CapEff")).map((c) => c.replace(/^CAP_/, "").toLowerCase()).join(",");
  return `priv: pid ${pid}, capabilities ${caps} (bounding set the same: ${field("CapBnd") === field("CapEff") ? "yes" : "no"}), NoNewPrivs ${field("NoNewPrivs")}, seccomp mode ${field("Seccomp")}`;
}

async function lab(opts: LabOptions): Promise<void> {
  await runLabCommand("paddock lab", opts.timeout, ["ip", "nsenter", "dnsmasq", "runc"], (timeoutMs) => runLab(timeoutMs, opts.keep === true));
}

async function runLab(timeoutMs: number, keep: boolean): Promise<void> {
  let shimLog = () => "";
  await inTwoNamespaces("pdlab", ["server", "client"], async (l, server, client) => {
    console.log(`== namespaces ${server.name} (dnsmasq) and ${client.name} (paddock dhcp), joined by a veth pair`);
    const link = l.veth(server, client, { addresses: { a: `${OFFER.server}/${OFFER.prefixLen}` } });
    const serverIf = link.a.name;
    const clientIf = link.b.name;
    const dnsmasq = await startDnsmasq(l, server, { iface: serverIf, offer: OFFER });
    console.log(`== dnsmasq serves ${OFFER.rangeStart}–${OFFER.rangeEnd} on ${serverIf}, with router, DNS, domain, search list, MTU ${OFFER.mtu} and classless routes`);

    const resolvConf = l.file("resolv.conf");
    const adminSocket = l.file("admin.sock");
    const runtimeDir = l.file("run");
    const bin = process.argv[1]!;
    const shim = startPaddock(l, client, ["dhcp", "--iface", clientIf, "--state-dir", l.file("state"), "--resolv-conf", resolvConf,
      "--admin-socket", adminSocket, "--runtime-dir", runtimeDir], { bin });
    shimLog = () => shim.output.trim();
    console.log(`== paddock dhcp --iface ${clientIf} (resolv.conf at ${resolvConf}, never the host's)`);

    const start = Date.now();
    const applied = await waitFor(
      () => {
        const link = ipJson<IpAddr[]>(client, ["addr", "show", "dev", clientIf])[0];
        const hasDefault = ipJson<IpRoute[]>(client, ["route", "show", "default"]).length > 0;
        return link?.addr_info.some((a) => a.family === "inet") && hasDefault && existsSync(resolvConf) ? link : undefined;
      },
      { what: "a lease to be applied (address, default route and resolv.conf)", timeoutMs, intervalMs: 10, abortOnExit: shim, state: () => `shim output:\n${shimLog()}` },
    );
    console.log(`\n== lease applied ${Date.now() - start} ms after the shim started`);
    for (const a of applied.addr_info.filter((x) => x.family === "inet")) {
      console.log(`address   ${a.local}/${a.prefixlen} on ${clientIf} (valid ${a.valid_life_time} s, preferred ${a.preferred_life_time} s)`);
    }
    for (const r of ipJson<IpRoute[]>(client, ["route", "show"])) {
      console.log(`route     ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${r.dev} proto ${r.protocol ?? "?"}`);
    }
    console.log(`mtu       ${applied.mtu}`);
    console.log(`resolv.conf:\n${readFileSync(resolvConf, "utf8").trim().replace(/^/gm, "  ")}`);
    const audit = spawnSync(process.execPath, [bin, "kv", "audit", "--socket", adminSocket], { encoding: "utf8" });
    console.log(`KV audit log:\n${audit.stdout.trim().replace(/^/gm, "  ")}`);
    console.log(describeCalf(runtimeDir));
    await shim.waitForLog(/priv sandboxed/, { timeoutMs });
    console.log(describePriv(shim.pid!));
    if (keep) {
      const kept = mkdtempSync(path.join(tmpdir(), "paddock-lab-"));
      await shim.stop();
      for (const name of ["state", "resolv.conf"]) if (existsSync(l.file(name))) cpSync(l.file(name), path.join(kept, name), { recursive: true });
      writeFileSync(path.join(kept, "shim.log"), shim.output);
      writeFileSync(path.join(kept, "dnsmasq.log"), dnsmasq.output);
      console.log(`== kept the state, resolv.conf and logs in ${kept}`);
    }
  });
}

export function registerLab(program: Command): void {
  program
    .command("lab")
    .description("run the DHCP service against dnsmasq in two throwaway network namespaces, show what it applied, and clean up (root)")
    .option("--keep", "keep the lab's state and logs (in a new temporary directory) for inspection")
    .option("--timeout <seconds>", "give up waiting for a lease after this long", "60")
    .action(lab);
}
