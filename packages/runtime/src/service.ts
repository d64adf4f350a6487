/**
 * `defineService()`: the one description of a service that the runtime, the CLI (`paddock run`),
 * the dev loop (`paddock calf dev`), the scaffolder (`paddock new`) and, later, the generator
 * consume. Everything the priv does for a service comes from here; the generic runtime never
 * names a service (STYLE.md 14).
 *
 * A definition is plain data plus a `setup` hook:
 *   - `channels`: what the priv opens for the calf — a packet socket whose classic BPF filter is
 *     compiled from a declarative pattern, and/or a UDP socket (a local port, the peers it may
 *     talk to) whose datagrams carry the kernel's receive timestamp;
 *   - the egress policy: the packet channel's `egress` rules (checked in TypeScript by the priv
 *     and compiled into the service's own tc eBPF program, with the service's own socket mark and
 *     tc handle, so services coexist on one interface), plus an optional deeper check from setup;
 *   - `schema`: each KV key's owner, calf readability, size limit and parser;
 *   - `calf`: its entry module and sandbox profile (memory, pids, frame rate);
 *   - `setup(ctx)`: run by the priv at start with the interface and the parsed options; returns
 *     the keys the priv writes before the calf starts, the handlers (level-triggered reconcilers),
 *     extra egress checks and metrics.
 */
import type { SchemaEntry } from "@paddock/kv";
import { checkSocketMatch, type EgressRule, type PacketPattern } from "@paddock/native";
import type { EgressCheck } from "./datapath/egress.ts";
import type { Handler, HandlerLogger, HandlerStatus } from "./handlers/reconciler.ts";
import type { RecordStore } from "./handlers/ownership.ts";
import type { ServiceHooks } from "./hooks.ts";
import type { MetricSource } from "./metrics.ts";
import type { ServiceReadiness } from "./systemd.ts";
import { CALF_ENGINES, isCalfEngine, type CalfEngine } from "./sandbox/engine.ts";

/** A service's part of `paddock status`. */
export interface ServiceStatusReport {
  /** For `--json`: a flat object of the service's own fields (documented with the service). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** For people: "name: value" lines. */
  readonly lines: readonly string[];
}

/** What a service's `readiness` reads. */
export interface ReadinessView {
  readonly store: StoreReader;
  readonly handlers: readonly HandlerStatus[];
  /** Wall-clock ms (the lease times in a store are Unix times). */
  readonly now: number;
}

/** A service name: the calf's name prefix, the store's schema name, the lock's and the log's tag. */
export const SERVICE_NAME = /^[a-z][a-z0-9]{0,9}$/;

/** A packet channel: an AF_PACKET socket on the interface, its filter attached before bind and locked. */
export interface PacketChannelDefinition {
  readonly kind: "packet";
  /**
   * The frames the kernel lets through to the calf: one pattern, or a short list (1–8) of
   * patterns of which a frame must match one, e.g. DHCP replies and ARP. Compiled into one
   * classic BPF socket filter.
   */
  readonly receive: PacketPattern | readonly PacketPattern[];
  /**
   * The frames the calf may send: one matching any rule goes out; checked by the priv and by
   * the service's tc egress program. Every frame must also come from the interface's MAC.
   */
  readonly egress: readonly EgressRule[];
  /** Largest frame the calf may send (bytes, Ethernet header included). */
  readonly maxFrameBytes: number;
}

/** A UDP channel: a socket bound to a local port on the interface, talking to allowed peers only. */
export interface UdpChannelDefinition {
  readonly kind: "udp";
  /**
   * 4 (the default) or 6. An IPv6 channel's socket is bound to "::" on the interface
   * (SO_BINDTODEVICE, IPv6 only), joins no multicast group, and opens only once the interface's
   * link-local address has finished duplicate address detection (the start fails with
   * PADDOCK_E_HOST_LINK_LOCAL_TIMEOUT when it never does): it sends from that address, e.g. the
   * DHCPv6 client to ff02::1:2 port 547, and receives what is addressed to its port. Peers are
   * compared in their canonical text (RFC 5952), so "FF02:0::1:2" is ff02::1:2.
   */
  readonly family?: 4 | 6;
  /** Local port to bind (the NTP client: any, 0; a server: its well-known port). */
  readonly localPort: number;
  /** The only remote port the calf may send to. */
  readonly remotePort: number;
  /** Largest datagram the calf may send (payload bytes). */
  readonly maxDatagramBytes: number;
  /**
   * Kernel transmit timestamps (default false): a datagram the calf sends with a tag
   * (`ctx.data.sendDatagram(data, peer, { tag })`) and that passes egress is answered with the
   * time the kernel handed it to the driver (`ctx.data.onTxTime`), e.g. NTP's T1. Needs Linux ≥
   * 6.13; on an older kernel the service starts without them (one warning in the priv's log) and
   * the calf simply gets no transmit times.
   */
  readonly txTimestamps?: boolean;
}

/** What the priv opens for the calf: at most one of each kind (fd 4 carries both). */
export interface ChannelsDefinition {
  readonly packet?: PacketChannelDefinition;
  readonly udp?: UdpChannelDefinition;
}

/** The calf: its code and what its sandbox allows. */
export interface CalfDefinition {
  /** The calf's entry module, relative to the service module (e.g. "./calf.ts"); built by `paddock build`. */
  readonly entry: string;
  /** Memory limit of its cgroup (MiB). */
  readonly memoryMiB: number;
  /** Process and thread limit (Node needs about a dozen). */
  readonly pids: number;
  /** CPU quota in cores, 0.05–1 (default 1: a calf never takes more than one core). */
  readonly cpuCores?: number;
  /**
   * Frames or datagrams per second the calf may send, sustained, and the burst above that; and,
   * optionally, bytes per second (the burst of bytes is one second's worth).
   */
  readonly sendRate: { readonly perSecond: number; readonly burst: number; readonly bytesPerSecond?: number };
  /**
   * The JavaScript engine the calf runs on (default "node"): "quickjs" runs the same code as one
   * static executable of a few MiB (docs/decisions/0010-quickjs-calf-engine.md), which only the
   * built-in services have so far; they name it, and run on Node, with a warning, where it is not
   * built. The operator's `--calf-engine` overrides it.
   */
  readonly engine?: CalfEngine;
}

/** An option a service accepts (`paddock run … --set NAME=VALUE`, or a friendly flag of a built-in command). */
export interface OptionDefinition {
  readonly description: string;
  readonly kind: "string" | "boolean" | "number";
  readonly default?: string | boolean | number;
  /**
   * A value of the right kind the service still cannot use: returns what it must be ("must be
   * printable ASCII, at most 255 bytes"), or undefined when it is fine. Checked wherever a value
   * is given (--set, a flag, the configuration file, a reload), before anything changes.
   */
  readonly validate?: (value: string | boolean | number) => string | undefined;
  /**
   * Whether a reload (SIGHUP, `paddock reload`) may change it while the service runs (default
   * false: a change is reported as needing a restart, and the running value is kept). A live
   * option's keys come from the setup's `reload`.
   */
  readonly live?: boolean;
}

/** Parsed option values, typed from the declarations. */
export type OptionValues<O extends Readonly<Record<string, OptionDefinition>>> = {
  readonly [K in keyof O]: O[K]["kind"] extends "boolean" ? boolean : O[K]["kind"] extends "number" ? number : string | undefined;
};

/**
 * Keys another service publishes that this one reads (the NTP service reads the DHCP lease's
 * servers). When both run in one priv, the host copies them into this service's store under
 * /input/SERVICE/… (e.g. /input/dhcp4/ntp/001) as priv-written keys: this service's schema must
 * declare those paths, and so validates them; its calf and handlers read them like any key.
 */
export interface ServiceInput {
  /** The other service's name. */
  readonly service: string;
  /** Key patterns of the other service to read, e.g. "/ntp/*". */
  readonly keys: readonly string[];
  /**
   * The service works without them (NTP: servers from the DHCP lease, when dhcp4 runs too): the
   * priv then says so at debug level rather than warning at every start.
   */
  readonly optional?: boolean;
}

/** The interface a service runs on, as the priv found it. */
export interface ServiceInterface {
  readonly name: string;
  readonly index: number;
  /** "02:00:00:00:00:01", or undefined on a link without an Ethernet address. */
  readonly mac: string | undefined;
  readonly mtu: number;
}

/** Read access to the service's own store (durable values) for setup's closures. */
export interface StoreReader {
  /** A key's canonical text (for logs and messages). */
  get(path: string): string | undefined;
  /** Every durable value as its schema's parser returned it: read with `readKey(store.parsed, key)`. */
  readonly parsed: ReadonlyMap<string, unknown>;
}

/** What `setup` gets. */
export interface SetupContext<O extends Readonly<Record<string, OptionDefinition>>> {
  readonly iface: ServiceInterface;
  readonly options: OptionValues<O>;
  /** This service's state directory (ownership records of its handlers live here). */
  readonly stateDir: string;
  /**
   * The priv's runtime directory, shared by the services and priv processes on a host: where
   * handlers put what they compose with others (resolv.conf contributions). Absent outside a host.
   */
  readonly runtimeDir?: string;
  readonly log: HandlerLogger;
  /** The service's own store (durable values; declared inputs are under /input/SERVICE/…). */
  readonly store: StoreReader;
  /**
   * Where handlers keep their ownership records: the service's store, which writes a record in
   * the same durable write as the commit it follows from (OwnershipFile with a store; decision
   * 0012). Absent: each record is its own file in `stateDir`.
   */
  readonly records?: RecordStore;
  /**
   * Writes priv-owned keys while the service runs (what the priv itself observed, say), as one
   * commit with the priv's rights, validated by the schema. Rejects with the store's KvError.
   * `withNextPersist`: the commit is read at once but made durable in the next write another
   * commit starts (KvCommitOptions.withNextPersist), for an observation whose commit follows.
   */
  commit(changes: Readonly<Record<string, string | null>>, opts?: { withNextPersist?: boolean }): Promise<void>;
}

/** What `setup` returns: everything the priv does for the service beyond the declarative parts. */
export interface ServiceSetup {
  /** Keys the priv writes before the calf starts (null: delete). Validated by the schema like any write. */
  readonly privKeys?: Readonly<Record<string, string | null>>;
  /** Handlers: reconcilers from the store to the system. */
  readonly handlers?: readonly Handler<any>[];
  /** A deeper check of each frame the calf sends (after the egress rules passed). */
  readonly checkFrame?: EgressCheck;
  /**
   * Sees each frame the packet channel delivers to the calf: the priv's own note of what the calf
   * was told (the DHCP service keeps the address of the last ACK, which its egress check then
   * allows as a source). Must be cheap and must not parse payloads beyond fixed fields.
   */
  readonly observeFrame?: (frame: Uint8Array) => void;
  /** Peers the UDP channel may send to (dotted quads; IPv6 text on a family 6 channel), asked at every send. */
  readonly udpPeers?: () => readonly string[];
  /** Metrics the service adds (read at scrape time). */
  readonly metrics?: readonly MetricSource[];
  /** The administrator's hooks: run by the priv on the events this computes after a handler applied (docs/hooks.md). */
  readonly hooks?: ServiceHooks;
  /**
   * The priv-written keys for changed option values (a reload: SIGHUP or `paddock reload`): the
   * host commits the ones that differ from the store in one commit, while the calf runs. Only
   * options declared `live` change; throws ServiceOptionError for values it cannot use.
   */
  reload?(options: OptionValues<any>): Readonly<Record<string, string | null>>;
  /** Called when the link changes (after the calf was told). */
  onLinkChange?(link: { up: boolean; carrier: boolean; mtu: number }, cameBack: boolean): void;
}

/** A service: see the module comment. */
export interface ServiceDefinition<O extends Readonly<Record<string, OptionDefinition>> = Readonly<Record<string, OptionDefinition>>> {
  readonly name: string;
  readonly description: string;
  readonly channels: ChannelsDefinition;
  readonly schema: {
    readonly entries: readonly SchemaEntry[];
    /** Bound on the sum of all values' sizes. */
    readonly maxTotalBytes: number;
  };
  readonly calf: CalfDefinition;
  readonly options?: O;
  readonly inputs?: readonly ServiceInput[];
  /** Needs an Ethernet (MAC) address on the interface (a DHCP client does). */
  readonly needsMac?: boolean;
  /**
   * Capabilities the priv needs for this service with these options, beyond what its channels
   * imply (a packet channel: CAP_NET_RAW) and what every priv needs (netlink, tc, runc): e.g.
   * the NTP service's CAP_SYS_TIME with `clock: system`. Names as in capabilities(7),
   * "CAP_SYS_TIME". `paddock generate` puts the union in the unit's CapabilityBoundingSet.
   */
  privCapabilities?(options: NoInfer<OptionValues<O>>): readonly string[];
  /**
   * Paths outside its state and runtime directories the priv writes for this service with these
   * options (the DHCP service: the directory of its resolv.conf, replaced by rename; the host
   * name file with set-hostname). `paddock generate` makes them the unit's ReadWritePaths.
   */
  privWritePaths?(options: NoInfer<OptionValues<O>>): readonly string[];
  /** Runs at start, before the calf; throws ServiceOptionError for an option value it cannot use. */
  setup?(ctx: SetupContext<O>): ServiceSetup | Promise<ServiceSetup>;
  /**
   * Whether the service is ready, and its one-line status, from its store and its handlers'
   * states: READY=1 (systemd) waits for every service that has one (the DHCP client: its first
   * lease applied), and STATUS= shows the lines. Without it, a service is ready once its calf
   * made its first KV request. Pure and cheap: called after commits and once a second until ready.
   */
  readiness?(view: ReadinessView): ServiceReadiness;
  /**
   * What `paddock status` shows of the service, from its store's values (path → text, as the
   * admin socket gives them) at wall-clock `now` (ms): fields for `--json` (under "status") and
   * readable lines. Without it, `paddock status` lists the keys.
   */
  status?(values: ReadonlyMap<string, string>, now: number): ServiceStatusReport;
}

/** A definition that breaks a rule: the message names the service and the field. */
export class ServiceDefinitionError extends Error {
  override readonly name = "ServiceDefinitionError";
  readonly code = "PADDOCK_E_SERVICE_DEFINITION";
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`the service definition ${JSON.stringify(service)} is invalid: ${problems.join("; ")}`);
  }
}

const isPort = (n: unknown, allowZero: boolean): boolean => Number.isInteger(n) && (n as number) >= (allowZero ? 0 : 1) && (n as number) <= 65535;
const isPositiveInt = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;

/** Every rule a definition breaks, as one sentence each; empty when it is valid. */
export function checkServiceDefinition(def: ServiceDefinition<any>): string[] {
  const problems: string[] = [];
  if (typeof def?.name !== "string" || !SERVICE_NAME.test(def.name)) problems.push(`name ${JSON.stringify(def?.name)} must be 1–10 lower-case letters and digits, starting with a letter`);
  if (typeof def?.description !== "string" || def.description.length === 0) problems.push("description is missing");
  const ch = def?.channels ?? {};
  if (!ch.packet && !ch.udp) problems.push("channels: a service needs a packet or a udp channel");
  if (ch.packet) {
    if (ch.packet.kind !== "packet") problems.push('channels.packet.kind must be "packet"');
    const receive = checkSocketMatch(ch.packet.receive);
    if (!receive.ok) problems.push(`channels.packet.receive: ${receive.error.message}`);
    if (!Array.isArray(ch.packet.egress)) problems.push("channels.packet.egress must be a list of rules (it may be empty: the calf then sends nothing)");
    if (!isPositiveInt(ch.packet.maxFrameBytes) || ch.packet.maxFrameBytes < 14 || ch.packet.maxFrameBytes > 9018) problems.push("channels.packet.maxFrameBytes must be 14–9018");
  }
  if (ch.udp) {
    if (ch.udp.kind !== "udp") problems.push('channels.udp.kind must be "udp"');
    if (ch.udp.family !== undefined && ch.udp.family !== 4 && ch.udp.family !== 6) problems.push("channels.udp.family must be 4 or 6");
    if (!isPort(ch.udp.localPort, true)) problems.push("channels.udp.localPort must be 0–65535");
    if (!isPort(ch.udp.remotePort, false)) problems.push("channels.udp.remotePort must be 1–65535");
    if (!isPositiveInt(ch.udp.maxDatagramBytes) || ch.udp.maxDatagramBytes > 65507) problems.push("channels.udp.maxDatagramBytes must be 1–65507");
    if (ch.udp.txTimestamps !== undefined && typeof ch.udp.txTimestamps !== "boolean") problems.push("channels.udp.txTimestamps must be true or false");
  }
  const calf = def?.calf;
  if (!calf || typeof calf.entry !== "string" || calf.entry.length === 0) problems.push("calf.entry is missing");
  else {
    if (!isPositiveInt(calf.memoryMiB) || calf.memoryMiB < 32) problems.push("calf.memoryMiB must be at least 32");
    if (!isPositiveInt(calf.pids) || calf.pids < 16) problems.push("calf.pids must be at least 16");
    if (!calf.sendRate || !(calf.sendRate.perSecond > 0) || !(calf.sendRate.burst >= 1)) problems.push("calf.sendRate needs perSecond > 0 and burst ≥ 1");
    else if (calf.sendRate.bytesPerSecond !== undefined && !(calf.sendRate.bytesPerSecond >= 64)) problems.push("calf.sendRate.bytesPerSecond must be at least 64");
    if (calf.cpuCores !== undefined && !(calf.cpuCores >= 0.05 && calf.cpuCores <= 1)) problems.push("calf.cpuCores must be 0.05–1");
    if (calf.engine !== undefined && !isCalfEngine(calf.engine)) problems.push(`calf.engine must be one of ${CALF_ENGINES.join(", ")}`);
  }
  if (!def?.schema || !Array.isArray(def.schema.entries)) problems.push("schema.entries is missing");
  else if (!(def.schema.maxTotalBytes > 0)) problems.push("schema.maxTotalBytes must be positive");
  for (const [name, o] of Object.entries(def?.options ?? {})) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) problems.push(`option ${JSON.stringify(name)}: names are lower-case words joined by '-'`);
    if (!["string", "boolean", "number"].includes((o as OptionDefinition).kind)) problems.push(`option ${name}: kind must be string, boolean or number`);
  }
  if (def?.privCapabilities !== undefined && typeof def.privCapabilities !== "function") problems.push("privCapabilities must be a function of the options");
  if (def?.privWritePaths !== undefined && typeof def.privWritePaths !== "function") problems.push("privWritePaths must be a function of the options");
  for (const input of def?.inputs ?? []) {
    if (!SERVICE_NAME.test(input.service)) problems.push(`inputs: ${JSON.stringify(input.service)} is not a service name`);
    if (input.service === def.name) problems.push("inputs: a service does not declare its own keys as an input");
    if (input.optional !== undefined && typeof input.optional !== "boolean") problems.push(`inputs: optional of ${input.service} must be true or false`);
  }
  return problems;
}

/**
 * Declares a service. Checks the definition and returns it unchanged (typed), so a mistake is
 * reported when the module loads, with every problem at once.
 */
export function defineService<const O extends Readonly<Record<string, OptionDefinition>> = {}>(def: ServiceDefinition<O>): ServiceDefinition<O> {
  const problems = checkServiceDefinition(def);
  if (problems.length > 0) throw new ServiceDefinitionError(String(def?.name), problems);
  return def;
}

/** Whether a value looks like a service definition (a module's default export, say). */
export function isServiceDefinition(x: unknown): x is ServiceDefinition<any> {
  return typeof x === "object" && x !== null && typeof (x as ServiceDefinition).name === "string" && typeof (x as ServiceDefinition).calf === "object" && typeof (x as ServiceDefinition).channels === "object";
}

/**
 * Why an option value was refused. A service's `setup` throws it for a value it cannot use
 * (`--set peer=` missing, say): the priv then stops with that one sentence, as for any user error.
 */
export class ServiceOptionError extends Error {
  override readonly name = "ServiceOptionError";
  readonly code = "PADDOCK_E_SERVICE_OPTION";
}

/**
 * Parses `NAME=VALUE` settings against a service's option declarations: unknown names, and values
 * that are not of the declared kind, are refused with one sentence.
 */
export function parseServiceOptions<O extends Readonly<Record<string, OptionDefinition>>>(def: ServiceDefinition<O>, settings: Readonly<Record<string, string | boolean | number>>): OptionValues<O> {
  const declared = (def.options ?? {}) as Readonly<Record<string, OptionDefinition>>;
  const out: Record<string, string | boolean | number | undefined> = {};
  for (const [name, o] of Object.entries(declared)) out[name] = o.default ?? (o.kind === "boolean" ? false : undefined);
  for (const [name, raw] of Object.entries(settings)) {
    if (!Object.hasOwn(declared, name)) throw new ServiceOptionError(`the service ${def.name} has no option ${JSON.stringify(name)} (${knownOptions(def)})`);
    const checked = checkOptionValue(def, name, raw);
    if (!checked.ok) throw new ServiceOptionError(`option ${name} of ${def.name} ${checked.reason}`);
    out[name] = checked.value;
  }
  return out as OptionValues<O>;
}

/** The options a service declares, as a list for messages ("it has: a, b"). */
export function knownOptions(def: ServiceDefinition<any>): string {
  const known = Object.keys(def.options ?? {});
  return known.length ? `it has: ${known.join(", ")}` : "it takes none";
}

/**
 * One setting checked against its declaration: the value of the declared kind (text from a
 * command line converted), or the reason it is refused, worded to follow "option NAME of SERVICE"
 * or a configuration file's setting path ("must be a number, not \"x\"").
 */
export function checkOptionValue(def: ServiceDefinition<any>, name: string, raw: string | boolean | number): { ok: true; value: string | boolean | number } | { ok: false; reason: string } {
  const o = (def.options as Readonly<Record<string, OptionDefinition>> | undefined)?.[name];
  if (!o || !Object.hasOwn(def.options!, name)) return { ok: false, reason: `is not an option of ${def.name} (${knownOptions(def)})` };
  let value: string | boolean | number;
  if (o.kind === "boolean") {
    if (typeof raw === "boolean") value = raw;
    else if (raw === "true" || raw === "false") value = raw === "true";
    else return { ok: false, reason: `must be true or false, not ${JSON.stringify(raw)}` };
  } else if (o.kind === "number") {
    const n = typeof raw === "number" ? raw : Number(raw);
    // The option's own words when it has them ("must be a whole number 0–4294967295"), which say more.
    if (typeof raw === "boolean" || !Number.isFinite(n) || String(raw).trim() === "") return { ok: false, reason: `${o.validate?.(raw) ?? "must be a number"}, not ${JSON.stringify(raw)}` };
    value = n;
  } else {
    if (typeof raw !== "string") return { ok: false, reason: `must be text, not ${JSON.stringify(raw)}` };
    value = raw;
  }
  const problem = o.validate?.(value);
  if (problem === undefined) return { ok: true, value };
  // A reason that already quotes the value (a list option naming its bad item) is not repeated.
  const quoted = JSON.stringify(value);
  return { ok: false, reason: typeof value === "string" && problem.includes(quoted) ? problem : `${problem}, not ${quoted}` };
}
