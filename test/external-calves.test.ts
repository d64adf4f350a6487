/**
 * Calves started outside the priv (`paddock run --calf-launch external`, docs/decisions/0013-external-calves.md):
 * the priv runs no runc and listens on RUNTIME_DIR/calves/NAME.sock; the test plays the calf's
 * systemd unit, whose sandbox it emulates without a systemd PID 1 — a non-root uid, no
 * capabilities (bounding set empty), no_new_privs and an empty network namespace of its own
 * (`unshare --net setpriv … paddock-calf-launch SOCKET node … calf-dhcp4.mjs`) — and dnsmasq
 * hands the client a lease through it. Then: a killed calf and the next launcher connection,
 * a connection from another uid refused, and the socket handed over by
 * systemd-socket-activate (socket activation without PID 1).
 *
 * Needs root (namespaces, setpriv). Skipped with a reason otherwise, never under CI=true.
 */
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capabilitiesInMask, MAX_PENDING_CONNECTIONS, PRIV_DENIED, RUNC_ONLY_SYSCALLS } from "@paddock/runtime";
import {
  addresses,
  canCreateLabs,
  createLab,
  defaultOffer,
  hasCommands,
  LAB_SKIP_REASON,
  startDnsmasq,
  startPaddock,
  findPaddockBin,
  PaddockProcess,
  waitFor,
  waitForAddress,
  type Lab,
  type LabProcess,
  type Netns,
  type Veth,
} from "@paddock/testkit";

const NEEDS = ["dnsmasq", "nsenter", "tc", "setpriv", "unshare"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the external-calves test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

const repoRoot = path.resolve(import.meta.dirname, "..");
const LAUNCHER = path.join(repoRoot, "native/launcher/build/paddock-calf-launch");
const CALF = path.join(repoRoot, "packages/services/dhcp4/calf/dist/calf-dhcp4.mjs");
const SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate";
if (process.env.CI === "true" && run && !(existsSync(LAUNCHER) && existsSync(SOCKET_ACTIVATE))) throw new Error(`CI must run the external-calves test with ${LAUNCHER} (make setup) and ${SOCKET_ACTIVATE} (Debian package systemd)`);
/** The uid the calves run as (no such user needed: setpriv takes numbers), and one that is not it. */
const CALF_UID = 61_234;
const OTHER_UID = 61_235;
/** nobody's uid: a deployment file names its calves' user (calf-user), which must be in /etc/passwd. */
const NOBODY_UID = 65_534;
/** A lease through a fresh calf: seconds, unless something hangs. */
const TIMEOUT_MS = 30_000;

/** The QuickJS calf executable (make setup builds it when QuickJS is built). */
const QUICKJS_CALF = path.join(repoRoot, "packages/services/dhcp4/calf/dist/calf-dhcp4-quickjs");

/** What the calf's unit would run, in the sandbox the unit would give it: the Node calf, or the QuickJS one. */
function launchCalf(lab: Lab, socket: string, uid: number, name: string, engine: "node" | "quickjs" = "node"): LabProcess {
  const calf = engine === "quickjs" ? [QUICKJS_CALF] : [process.execPath, "--jitless", "--no-expose-wasm", "--max-old-space-size=32", CALF];
  return lab.spawn(null, [
    "unshare", "--net",
    "setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    LAUNCHER, "-e", "HOME=/", socket, ...calf,
  ], { name });
}

/** The one calf socket the priv made under RUNTIME_DIR/calves. */
function calfSocket(runtimeDir: string): string | undefined {
  const dir = path.join(runtimeDir, "calves");
  const socks = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sock")) : [];
  return socks.length === 1 ? path.join(dir, socks[0]!) : undefined;
}

/** Connections a flood opens: far more than the priv may hold waiting. */
const FLOOD_CONNECTIONS = 40;
/** The priv's own AF_UNIX sockets besides its calves': admin socket, listeners, Node's, pino's — a generous bound. */
const BASELINE_UNIX_SOCKETS = 12;

/** The number of socket descriptors process `pid` holds. */
function unixConnectionsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

/** The status line of process `pid` (e.g. "Uid:", "CapEff:", "NoNewPrivs:"), or undefined once it is gone. */
function procStatus(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

describe.skipIf(!run || !existsSync(LAUNCHER))(`calves started outside the priv (${run ? (existsSync(LAUNCHER) ? "root" : "make setup builds the launcher") : skipReason})`, () => {
  let lab: Lab;
  let server: Netns;
  let client: Netns;
  let link: Veth;
  let priv: PaddockProcess;
  let runtimeDir: string;
  let socket: string;
  const net = "10.87.0";

  beforeAll(async () => {
    lab = createLab({ prefix: "pxc" });
    server = lab.namespace("srv", { ipv6: false });
    client = lab.namespace("cli", { ipv6: false });
    link = lab.veth(server, client, { addresses: { a: `${net}.1/24` } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer(net) });
    runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    priv = startPaddock(lab, client, [
      "run", "dhcp4", "--calf-launch", "external", "--calf-user", String(CALF_UID), "--set", "arp-probe=false", "--iface", link.b.name,
      "--runtime-dir", runtimeDir, "--state-dir", lab.file("state"), "--set", `resolv-conf=${lab.file("resolv.conf")}`, "--log-format", "json",
    ], { name: "paddock run (external calves)" });
    await priv.waitForLog(/waiting for the calf to connect/, { timeoutMs: TIMEOUT_MS });
    socket = await waitFor(() => calfSocket(runtimeDir), { what: "the calf's socket under RUNTIME_DIR/calves", timeoutMs: TIMEOUT_MS });
  }, 60_000);

  /** The priv's pid, from its interface lock (RUNTIME_DIR/CALF.pid). */
  const privPid = () => Number(readFileSync(path.join(runtimeDir, `${path.basename(socket, ".sock")}.pid`), "utf8").trim().split(/\s/)[0]);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("refuses a calf that connects as another uid, in one logged line, and applies nothing", async () => {
    const intruder = launchCalf(lab, socket, OTHER_UID, "calf as another uid");
    const refusal = await priv.waitForEntry((e) => e.code === "PADDOCK_E_SANDBOX_CALF_PEER", { what: "the refusal", timeoutMs: TIMEOUT_MS });
    expect(refusal.level).toBe(40); // pino: warn
    expect(refusal.msg).toMatch(new RegExp(`refused: it comes from uid ${OTHER_UID} \\(pid \\d+\\), and calves connect as uid ${CALF_UID}`));
    // Refused at accept: its channels are closed, so the calf ends instead of running.
    await waitFor(() => !intruder.running, { what: "the refused calf to exit", timeoutMs: TIMEOUT_MS, state: () => intruder.tail() });
    expect(priv.lines(/calf connected/)).toEqual([]);
    expect(await addresses(client, link.b.name, "inet")).toEqual([]);
  }, 2 * TIMEOUT_MS);

  let calf: LabProcess;
  it("gets a lease through a calf its own sandbox started: another uid, no capabilities, no_new_privs, no network", async () => {
    calf = launchCalf(lab, socket, CALF_UID, "calf (1st)");
    const a = await waitForAddress(lab, client, link.b.name, "inet", { timeoutMs: TIMEOUT_MS });
    expect(a.local.startsWith(`${net}.`)).toBe(true);
    const pid = calf.pid!;
    // The connection's SO_PEERCRED pid is the calf itself: the launcher exec'd in place.
    expect(priv.logEntries().filter((e) => e.msg === "calf connected").map((e) => e.pid)).toEqual([pid]);
    expect(procStatus(pid, "Uid")?.split(/\s+/)).toEqual(Array(4).fill(String(CALF_UID)));
    expect(procStatus(pid, "CapEff")).toBe("0000000000000000");
    expect(procStatus(pid, "CapBnd")).toBe("0000000000000000");
    expect(procStatus(pid, "NoNewPrivs")).toBe("1");
    // The priv, sandboxed after start-up, kept no capability of runc's: CAP_BPF for its tc programs instead.
    const privCaps = await waitFor(() => {
      const caps = capabilitiesInMask(procStatus(privPid(), "CapEff") ?? "0");
      return caps.length < 10 ? caps : undefined;
    }, { what: "the priv to drop its capabilities", timeoutMs: TIMEOUT_MS });
    expect(privCaps.sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(capabilitiesInMask(procStatus(privPid(), "CapBnd")!).sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
    // …and its seccomp filter refuses what only runc needed as well (mounts, namespaces).
    const sandboxed = await priv.waitForEntry((e) => /^priv sandboxed/.test(String(e.msg)), { what: "the priv's sandbox line", timeoutMs: TIMEOUT_MS });
    expect(sandboxed.deniedSyscalls).toBe(PRIV_DENIED.length + RUNC_ONLY_SYSCALLS.length);
    // Its channels are where a runc-started calf has them.
    for (const fd of [3, 4]) expect(readlinkSync(`/proc/${pid}/fd/${fd}`)).toMatch(/^socket:\[\d+\]$/);
  }, 2 * TIMEOUT_MS);

  let next: LabProcess;
  // The launcher is engine-neutral: the next calf is the QuickJS executable when it is built.
  const nextEngine = existsSync(QUICKJS_CALF) ? "quickjs" : "node";
  it(`treats a killed calf as exited and resumes when the next launcher connects (a ${nextEngine} calf)`, async () => {
    process.kill(calf.pid!, "SIGKILL");
    const exit = await priv.waitForEntry((e) => e.msg === "calf exited; restarting", { what: "the calf's exit", timeoutMs: TIMEOUT_MS });
    expect(exit).toMatchObject({ restarts: 1, launch: "external" });
    const before = await addresses(client, link.b.name, "inet");
    expect(before).toHaveLength(1);
    next = launchCalf(lab, socket, CALF_UID, `calf (2nd, ${nextEngine})`, nextEngine);
    const started = await priv.waitForEntry((e) => e.msg === "calf started" && e.restarts === 1, { what: "the second calf's start", timeoutMs: TIMEOUT_MS });
    expect(started.pid).toBe(next.pid);
    // The second calf speaks the KV protocol: it resumes from the persisted lease (INIT-REBOOT)
    // and the address stays what it was.
    await waitFor(() => next.lines(/REQUEST|bound|lease/i).length > 0, { what: "the second calf to work from the persisted lease", timeoutMs: TIMEOUT_MS, state: () => next.tail() });
    expect((await addresses(client, link.b.name, "inet")).map((x) => x.local)).toEqual(before.map((x) => x.local));
    expect(next.running).toBe(true);
  }, 2 * TIMEOUT_MS);

  it("bounds what a flood of connections holds: those over the limit are closed at once, the priv lives", async () => {
    // Connections of the calf's uid that never greet (a calf is connected already): the priv keeps
    // at most MAX_PENDING_CONNECTIONS of them and closes the rest as they come.
    const flood = lab.spawn(null, [
      "setpriv", `--reuid=${CALF_UID}`, `--regid=${CALF_UID}`, "--clear-groups", "--",
      "/usr/bin/python3", "-c", `import socket,time\nsocks=[]\nfor i in range(${FLOOD_CONNECTIONS}):\n  s=socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(socket)}); socks.append(s)\nprint("connected", flush=True)\ntime.sleep(600)`,
    ], { name: "connection flood" });
    const logged = priv.logEntries().length;
    await flood.waitForLog(/connected/, { timeoutMs: TIMEOUT_MS });
    // A refusal after a quiet second is logged at once; those within the second, at its end with their count.
    const refusal = await waitFor(() => priv.logEntries().slice(logged).find((e) => e.code === "PADDOCK_E_SANDBOX_CALF_PEER"), {
      what: "the priv to log the flood's refusal",
      timeoutMs: TIMEOUT_MS,
      state: () => priv.tail(),
    });
    expect(refusal.msg).toMatch(/refused: (4 connections are already waiting|too many connections are open)/);
    // The priv holds at most the limit (plus the calf's two): count its AF_UNIX connections to the socket.
    const held = await waitFor(() => {
      const n = unixConnectionsOf(privPid());
      return n <= FLOOD_CONNECTIONS ? n : undefined;
    }, { what: "the priv's connections to settle", timeoutMs: TIMEOUT_MS, state: () => `${unixConnectionsOf(privPid())} sockets held; ${priv.tail()}` });
    expect(held).toBeLessThanOrEqual(MAX_PENDING_CONNECTIONS + 2 + BASELINE_UNIX_SOCKETS);
    await flood.stop("SIGKILL");
    expect(priv.running).toBe(true);
    expect(next.running).toBe(true);
  }, 2 * TIMEOUT_MS);

  it("stops: the calf sees its channels close and exits, the socket file is removed", async () => {
    expect((await priv.stop()).code).toBe(0);
    expect(calfSocket(runtimeDir)).toBeUndefined();
    await waitFor(() => !next.running, { what: "the calf to exit once its channels closed", timeoutMs: TIMEOUT_MS, state: () => next.tail() });
  }, 2 * TIMEOUT_MS);

  it.skipIf(!existsSync(SOCKET_ACTIVATE))("takes the calf's socket from systemd (socket activation: LISTEN_FDS, LISTEN_FDNAMES) and makes none itself", async () => {
    // The calf's name is the socket's file name the first priv made (same namespace, same interface).
    const name = path.basename(socket, ".sock");
    const activated = lab.file("activated.sock");
    // systemd-socket-activate listens, and at the first connection execs the priv (same pid, so
    // LISTEN_PID is the priv's) with the listening socket at fd 3, named by --fdname.
    const p2 = lab.spawn(null, [
      SOCKET_ACTIVATE, "-l", activated, `--fdname=${name}`, "-E", `PATH=${process.env.PATH}`,
      "nsenter", `--net=/run/netns/${client.name}`, findPaddockBin(), "run", "dhcp4", "--calf-launch", "external", "--calf-user", String(CALF_UID), "--set", "arp-probe=false",
      "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", lab.file("state"), "--set", `resolv-conf=${lab.file("resolv.conf")}`, "--log-format", "json",
    ], { name: "paddock run (socket-activated)", create: (n, c) => new PaddockProcess(n, c) });
    await waitFor(() => existsSync(activated), { what: "systemd-socket-activate to listen", timeoutMs: TIMEOUT_MS });
    // What SocketUser=/SocketMode= do in the generated .socket unit: the calf's user may connect.
    chownSync(activated, CALF_UID, CALF_UID);
    const third = launchCalf(lab, activated, CALF_UID, "calf (socket-activated)");
    const waiting = await p2.waitForEntry((e) => e.msg === "waiting for the calf to connect", { what: "the priv to take the socket", timeoutMs: TIMEOUT_MS });
    expect(waiting.socket).toBe("fd 3 (systemd)");
    const connected = await p2.waitForEntry((e) => e.msg === "calf connected", { what: "the calf to connect", timeoutMs: TIMEOUT_MS });
    expect(connected.pid).toBe(third.pid);
    expect(calfSocket(runtimeDir)).toBeUndefined();
    expect((await p2.stop()).code).toBe(0);
    await waitFor(() => !third.running, { what: "the calf to exit once its channels closed", timeoutMs: TIMEOUT_MS, state: () => third.tail() });
  }, 2 * TIMEOUT_MS);

  it("paddock serve runs a deployment's calves the same way (calf-launch: external); an apply that changes how calves start is refused", async () => {
    // calf-user names a user of /etc/passwd: nobody (65534) is on every Debian system.
    const deployment = (name: string, launch: string) => {
      const file = lab.file(name);
      writeFileSync(file, [`name: pxs`, launch, "services:", "  dhcp4:", `    interfaces: [${link.b.name}]`, `    options: { arp-probe: false, resolv-conf: ${lab.file("resolv.conf")}, hooks-dir: "" }`, ""].join("\n"));
      return file;
    };
    const external = deployment("external.yaml", "calf-launch: external\ncalf-user: nobody");
    const serveRun = lab.file("serve-run");
    mkdirSync(serveRun, { mode: 0o711 });
    const served = startPaddock(lab, client, ["serve", external, "--runtime-dir", serveRun, "--state-dir", lab.file("serve-state"), "--log-format", "json"], { name: "paddock serve (external calves)" });
    const sock = await waitFor(() => calfSocket(serveRun), { what: "serve's calf socket under RUNTIME_DIR/calves", timeoutMs: TIMEOUT_MS, abortOnExit: served });
    const calfOfServe = launchCalf(lab, sock, NOBODY_UID, "calf (serve)");
    const connected = await served.waitForEntry((e) => e.msg === "calf connected", { what: "the calf to connect to serve", timeoutMs: TIMEOUT_MS });
    expect(connected.pid).toBe(calfOfServe.pid);
    await waitFor(() => calfOfServe.lines(/REQUEST|bound|lease/i).length > 0, { what: "serve's calf to work", timeoutMs: TIMEOUT_MS, state: () => calfOfServe.tail() });
    // serve's sandbox kept what an external-calf priv needs, and nothing of runc's.
    await served.waitForEntry((e) => /^priv sandboxed/.test(String(e.msg)), { what: "serve's sandbox line", timeoutMs: TIMEOUT_MS });
    expect(capabilitiesInMask(procStatus(served.pid!, "CapBnd")!).sort()).toEqual(["CAP_BPF", "CAP_NET_ADMIN", "CAP_NET_RAW"]);
    // How calves start is fixed for the priv's life: a file asking for runc-started calves is refused whole.
    const runtime = deployment("runtime.yaml", "calf-launch: runtime");
    const r = spawnSync(findPaddockBin(), ["apply", runtime, "--runtime-dir", serveRun], { encoding: "utf8", timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`paddock: the running priv refused ${runtime}, and runs unchanged: calf-launch runtime differs from the running priv's (external as nobody); how calves start changes only with a restart of paddock serve\n`);
    expect(calfOfServe.running).toBe(true);
    expect((await served.stop()).code).toBe(0);
    await waitFor(() => !calfOfServe.running, { what: "serve's calf to exit once its channels closed", timeoutMs: TIMEOUT_MS, state: () => calfOfServe.tail() });
  }, 3 * TIMEOUT_MS);
});
