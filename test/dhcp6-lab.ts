/**
 * What the DHCPv6 namespace tests (and bench/dhcp6.ts) share: a server and a client namespace
 * joined by a veth (the server's end holding `${subnet}1`), `paddock dhcp6` started in the client
 * namespace with its state, runtime directory, admin socket and resolv.conf in the lab, and
 * readers of the client's IPv6 addresses as `ip -6 addr` reports them (with valid_lft and
 * preferred_lft).
 */
import { mkdirSync } from "node:fs";
import { connectKv, type KvClient } from "@paddock/kv";
import { createLab, startPaddock, type Lab, type Netns, type PaddockProcess } from "@paddock/testkit";

/** Bounds waits that only guard against a hang (runc, Node and an exchange take a second or two). */
export const DHCP6_TIMEOUT_MS = 30_000;

/** The two namespaces and the link between them. */
export interface Dhcp6Lab {
  server: Netns;
  client: Netns;
  /** The server's end of the veth. */
  serverIf: string;
  /** The client's end (where paddock dhcp6 runs). */
  clientIf: string;
}

/**
 * Makes the two namespaces: the server's end gets `serverAddress` (no DAD: the lab is ours), the
 * client takes no router advertisement (a stateless dnsmasq sends them; SLAAC would add addresses
 * the tests do not look for).
 */
export function dhcp6Lab(lab: Lab, serverAddress = "2001:db8:6::1/64"): Dhcp6Lab {
  const server = lab.namespace("srv");
  // The servers bind their link-local address (Kea does), which DAD would hold back a second or two.
  lab.sysctl(server, { "net.ipv6.conf.default.accept_dad": "0" });
  const client = lab.namespace("cli");
  lab.sysctl(client, { "net.ipv6.conf.all.accept_ra": "0", "net.ipv6.conf.default.accept_ra": "0" });
  const link = lab.veth(server, client);
  lab.ip(server, ["addr", "add", serverAddress, "dev", link.a.name, "nodad"]);
  return { server, client, serverIf: link.a.name, clientIf: link.b.name };
}

/** One IPv6 address as `ip -j -6 addr` reports it. */
export interface Addr6 {
  local: string;
  prefixlen: number;
  scope: string;
  valid_life_time: number;
  preferred_life_time: number;
  noprefixroute?: boolean;
  tentative?: boolean;
}

/** The interface's IPv6 addresses (link-local included). */
export function addresses6(lab: Lab, ns: Netns, iface: string): Addr6[] {
  const info = lab.ipJson<Array<{ addr_info?: Array<Addr6 & { family: string }> }>>(ns, ["-6", "addr", "show", "dev", iface]);
  return (info[0]?.addr_info ?? []).filter((a) => a.family === "inet6");
}

/** The global (non-link-local) IPv6 addresses. */
export function globals6(lab: Lab, ns: Netns, iface: string): Addr6[] {
  return addresses6(lab, ns, iface).filter((a) => a.scope === "global");
}

/** A running `paddock dhcp6` and a connection to its store. */
export interface Dhcp6UnderTest {
  paddock: PaddockProcess;
  kv: KvClient;
  /** The resolv.conf it manages (in the lab). */
  resolvConf: string;
  /** A key's value, or undefined when it is not set. */
  read(path: string): Promise<string | undefined>;
}

/**
 * Starts `paddock dhcp6 --iface IFACE …extraArgs` in `ns` (with `env` added to this process's),
 * waiting until its calf started the client (or, for another calf, its first line).
 */
export async function startPaddockDhcp6(lab: Lab, ns: Netns, iface: string, extraArgs: string[] = [], name = "dhcp6", env?: NodeJS.ProcessEnv): Promise<Dhcp6UnderTest> {
  const runtimeDir = lab.file(`${name}-run`);
  // Again for a restart: the same state (records, DUID) and runtime directories.
  mkdirSync(runtimeDir, { mode: 0o711, recursive: true });
  const resolvConf = lab.file(`${name}-resolv.conf`);
  // The default place (RUNTIME_DIR/dhcp6-IFACE.sock), where `paddock status` looks.
  const socket = `${runtimeDir}/dhcp6-${iface}.sock`;
  const paddock = startPaddock(lab, ns, [
    "dhcp6", "--iface", iface, "--state-dir", lab.file(`${name}-state`), "--runtime-dir", runtimeDir,
    "--resolv-conf", resolvConf, "--log-format", "json", "--log-level", "debug", ...extraArgs,
  ], env ? { env: { ...process.env, ...env } } : {});
  await paddock.waitForLog(/DHCPv6 client started|hostile calf:/, { timeoutMs: DHCP6_TIMEOUT_MS });
  const kv = await connectKv(socket);
  return { paddock, kv, resolvConf, read: (p) => kv.read(p).catch(() => undefined) };
}

/** What a test registers to run when it ends, passed or failed (vitest's `onTestFinished` of the test's own context). */
export type OnFinished = (fn: () => Promise<void>) => void;

/** A lab of the test's own (prefix d6s), destroyed when the test ends: what lets tests run concurrently. */
export function ownLab(onFinished: OnFinished): Lab {
  const lab = createLab({ prefix: "d6s" });
  onFinished(() => lab.destroy());
  return lab;
}

/** {@link startPaddockDhcp6}, its store connection closed when the test ends. */
export async function ownClient(onFinished: OnFinished, ...args: Parameters<typeof startPaddockDhcp6>): Promise<Dhcp6UnderTest> {
  const client = await startPaddockDhcp6(...args);
  onFinished(async () => client.kv.close());
  return client;
}
