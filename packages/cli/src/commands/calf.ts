/**
 * `paddock calf dev SERVICE`: runs a service's calf outside its sandbox, for developing one with
 * the SDK. SERVICE is what `paddock run` takes (a built-in name, a service module, a build
 * directory), and everything the priv would give the calf comes from that service's definition:
 *
 *   - fd 3: a real store with the service's schema and calf rights, holding the keys its setup
 *     writes (setup runs with a fake interface, or the real one with --live; its handlers, which
 *     change the system, run only with --handlers);
 *   - fd 4: the service's channels — frames for a packet channel, datagrams for a UDP channel —
 *     fed from a capture (--replay, paced and timestamped as captured) or from the real channel
 *     on an interface (--live, root only);
 *   - what the calf sends is checked by the service's egress checks and printed; with --live
 *     what passes is really sent.
 *
 * The calf runs as an ordinary process (as nobody when started as root), not sandboxed: never
 * feed it traffic you do not trust. Its bundle carries a source map, so its stack traces name
 * its TypeScript sources. The exit status is non-zero when the calf crashed or exited non-zero.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { KvServer, KvStore } from "@paddock/kv";
import { compileSocketFilter, matchSocketMatch, openPacketSocket, openUdpSocket, socketMatchProtocol, type PacketSocket, type UdpSocket } from "@paddock/native";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, type DataMessage } from "@paddock/protocol";
import { decodeDhcpFrame, readCapture, type CapturedPacket } from "@paddock/dhcp4";
import { bundleCalf } from "@paddock/bundler";
import {
  acquirePidLock,
  datagramEgress,
  HandlerRunner,
  packetEgress,
  parseCalfLogLine,
  parseServiceOptions,
  ServiceOptionError,
  setupContext,
  stateDirLockFile,
  type DatagramCheck,
  type EgressCheck,
  type ServiceDefinition,
  type ServiceInterface,
  type ServiceSetup,
} from "@paddock/runtime";
import { createSocketPairs } from "@paddock/runtime/channels";
import { UserError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { BUILTIN_SERVICES, installRoot, loadService, type LoadedService } from "../services.ts";
import { esbuildMessages } from "./build.ts";

interface DevOptions {
  replay?: string;
  live?: boolean;
  iface?: string;
  set: string[];
  mac?: string;
  handlers?: boolean;
  seconds: string;
  maxGap: string;
  keep?: boolean;
}

/** The fake interface's MAC when --mac is not given (locally administered). */
const DEFAULT_DEV_MAC = "02:00:00:00:00:01";
/** The fake interface's name when --iface is not given. */
const DEFAULT_DEV_IFACE = "dev0";
/** The uid/gid the calf runs as when the command runs as root (Debian's nobody/nogroup). */
const NOBODY = 65534;
/** SIGTERM → SIGKILL grace: the SDK gives stop work 2 s (SHUTDOWN_GRACE_MS); one more for Node. */
const STOP_GRACE_MS = 3000;
/** pcap link types this command reads: Ethernet, raw IP (two codes), Linux cooked v1 and v2. */
const LINKTYPE = { ETHERNET: 1, RAW: 101, IPV4: 228, IPV6: 229, LINUX_SLL: 113, LINUX_SLL2: 276 } as const;

const enc = new TextEncoder();
const hex2 = (b: number) => b.toString(16).padStart(2, "0");

// ---------------------------------------------------------------------------------------------
// Describing frames and datagrams (fixed headers only: the payload is the calf's business).

function ipv4Text(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6Text(b: Uint8Array, at: number): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!).toString(16));
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes "::".
  let best = { start: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len) best = { start: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.start < 0) return groups.join(":");
  return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.len).join(":")}`;
}

/** "IPv4 UDP 10.0.0.1:67 → 10.0.0.5:68, 342 bytes": ethertype, addresses, ports, length. */
export function describeFrame(f: Uint8Array): string {
  if (f.length < 14) return `a ${f.length}-byte frame without an Ethernet header`;
  const ethertype = (f[12]! << 8) | f[13]!;
  const size = `${f.length} bytes`;
  if (ethertype === 0x0800 && f.length >= 34 && f[14]! >> 4 === 4) {
    const l4 = 14 + (f[14]! & 0x0f) * 4;
    const proto = f[23]!;
    const src = ipv4Text(f, 26);
    const dst = ipv4Text(f, 30);
    if ((proto === 17 || proto === 6) && f.length >= l4 + 4) {
      return `IPv4 ${proto === 17 ? "UDP" : "TCP"} ${src}:${(f[l4]! << 8) | f[l4 + 1]!} → ${dst}:${(f[l4 + 2]! << 8) | f[l4 + 3]!}, ${size}`;
    }
    return `IPv4 protocol ${proto} ${src} → ${dst}, ${size}`;
  }
  if (ethertype === 0x86dd && f.length >= 54) {
    const next = f[20]!;
    const src = ipv6Text(f, 22);
    const dst = ipv6Text(f, 38);
    if (next === 17 && f.length >= 58) return `IPv6 UDP [${src}]:${(f[54]! << 8) | f[55]!} → [${dst}]:${(f[56]! << 8) | f[57]!}, ${size}`;
    if (next === 58 && f.length >= 55) return `IPv6 ICMPv6 type ${f[54]} ${src} → ${dst}, ${size}`;
    return `IPv6 next header ${next} ${src} → ${dst}, ${size}`;
  }
  if (ethertype === 0x0806) return `ARP, ${size}`;
  return `ethertype 0x${ethertype.toString(16).padStart(4, "0")}, ${size}`;
}

/** The built-in DHCPv4 client's frames, in DHCP's terms (message type, xid, addresses). */
function describeDhcpFrame(frame: Uint8Array): string {
  const d = decodeDhcpFrame(frame, { verifyChecksums: false });
  if (!d.ok) return `${describeFrame(frame)} (not DHCP: ${d.error.code})`;
  const type = d.value.message.options.find((o) => o.kind === "messageType");
  const names = ["?", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"];
  const t = type && type.kind === "messageType" ? (names[type.type] ?? String(type.type)) : "BOOTP";
  return `${t} xid 0x${d.value.message.xid.toString(16)} ${d.value.info.srcIp} → ${d.value.info.dstIp}`;
}

const peerText = (p: { address: string; port: number }) => (p.address.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`);

// ---------------------------------------------------------------------------------------------
// Captures: what the service's channels would have received.

/** One replayed message, at its captured time. */
interface ReplayItem {
  readonly message: DataMessage & { kind: "frame" | "datagram" };
  /** Seconds since the epoch, as captured (NaN: the record has no time). */
  readonly timestamp: number;
}

/** A captured packet's IP packet, from any link type this command reads. */
function ipPacket(p: CapturedPacket): Uint8Array | undefined {
  const d = p.data;
  const at = (offset: number, protoAt: number): Uint8Array | undefined => {
    if (d.length < offset) return undefined;
    const proto = (d[protoAt]! << 8) | d[protoAt + 1]!;
    return proto === 0x0800 || proto === 0x86dd ? d.subarray(offset) : undefined;
  };
  switch (p.linkType) {
    case LINKTYPE.ETHERNET:
      return at(14, 12);
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      return d;
    case LINKTYPE.LINUX_SLL:
      return at(16, 14);
    case LINKTYPE.LINUX_SLL2:
      return at(20, 0);
    default:
      return undefined;
  }
}

/** A UDP datagram inside an IP packet (unfragmented IPv4, or IPv6 with UDP as its first header). */
function udpOf(ip: Uint8Array): { src: string; dst: string; srcPort: number; dstPort: number; payload: Uint8Array } | undefined {
  let l4: number;
  let src: string;
  let dst: string;
  if (ip.length >= 20 && ip[0]! >> 4 === 4) {
    l4 = (ip[0]! & 0x0f) * 4;
    const fragment = ((ip[6]! << 8) | ip[7]!) & 0x3fff;
    if (ip[9] !== 17 || fragment !== 0 || l4 < 20) return undefined;
    src = ipv4Text(ip, 12);
    dst = ipv4Text(ip, 16);
  } else if (ip.length >= 40 && ip[0]! >> 4 === 6) {
    if (ip[6] !== 17) return undefined;
    l4 = 40;
    src = ipv6Text(ip, 8);
    dst = ipv6Text(ip, 24);
  } else {
    return undefined;
  }
  if (ip.length < l4 + 8) return undefined;
  const udpLength = (ip[l4 + 4]! << 8) | ip[l4 + 5]!;
  const end = Math.min(ip.length, udpLength >= 8 ? l4 + udpLength : ip.length);
  return { src, dst, srcPort: (ip[l4]! << 8) | ip[l4 + 1]!, dstPort: (ip[l4 + 2]! << 8) | ip[l4 + 3]!, payload: ip.slice(l4 + 8, end) };
}

/** ns since the epoch from a capture's seconds: exact to the microsecond (a double holds no more). */
function captureTimeNs(seconds: number): bigint {
  return BigInt(Math.round(seconds * 1e6)) * 1000n;
}

/**
 * What the service's channels would have received from a capture: Ethernet frames its packet
 * channel's filter passes, and UDP payloads to its UDP channel's local port (from its remote port
 * when the local port is the kernel's choice), each with the capture's own time.
 */
function replayItems(def: ServiceDefinition<any>, packets: readonly CapturedPacket[]): { items: ReplayItem[]; skipped: number } {
  const items: ReplayItem[] = [];
  let skipped = 0;
  const { packet, udp } = def.channels;
  for (const p of packets) {
    const rxTimeNs = Number.isFinite(p.timestamp) ? captureTimeNs(p.timestamp) : 0n;
    if (packet && p.linkType === LINKTYPE.ETHERNET && matchSocketMatch(packet.receive, p.data)) {
      items.push({ message: { kind: "frame", data: p.data, rxTimeNs }, timestamp: p.timestamp });
      continue;
    }
    const ip = udp ? ipPacket(p) : undefined;
    const u = ip ? udpOf(ip) : undefined;
    if (udp && u && (udp.localPort !== 0 ? u.dstPort === udp.localPort : u.srcPort === udp.remotePort)) {
      items.push({ message: { kind: "datagram", data: u.payload, peerAddress: u.src, peerPort: u.srcPort, rxTimeNs }, timestamp: p.timestamp });
      continue;
    }
    skipped++;
  }
  return { items, skipped };
}

// ---------------------------------------------------------------------------------------------
// The interface: a fake one, or (--live) the real one.

/** The real interface as `ip` sees it in this network namespace (sysfs may be another's). */
function realInterface(name: string): ServiceInterface {
  const r = spawnSync("ip", ["-j", "link", "show", "dev", name], { encoding: "utf8" });
  if (r.error) throw new UserError(`cannot run ip to look at ${name}: ${r.error.message}`);
  if (r.status !== 0) throw new UserError(`there is no network interface named ${name} here: ${(r.stderr || "").trim()}`);
  const [link] = JSON.parse(r.stdout) as Array<{ ifindex: number; ifname: string; address?: string; mtu?: number; link_type?: string }>;
  if (!link) throw new UserError(`there is no network interface named ${name} here`);
  const mac = link.link_type === "ether" && link.address && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(link.address) ? link.address : undefined;
  return { name: link.ifname, index: link.ifindex, mac, mtu: link.mtu ?? 1500 };
}

/** The calf's entry source, when it can be found: then the dev bundle is built from it, with a source map. */
function calfSource(spec: string, loaded: LoadedService): string | undefined {
  const def = loaded.definition;
  if (BUILTIN_SERVICES[spec] === def) {
    const entry = path.resolve(installRoot(), "packages/services", def.name, "service/src", def.calf.entry);
    return existsSync(entry) ? entry : undefined;
  }
  if (existsSync(spec) && statSync(spec).isFile()) {
    const entry = path.resolve(path.dirname(path.resolve(spec)), def.calf.entry);
    return existsSync(entry) ? entry : undefined;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------

async function dev(spec: string, opts: DevOptions): Promise<void> {
  const seconds = Number(opts.seconds);
  const maxGap = Number(opts.maxGap);
  if (!(seconds > 0)) throw new UserError(`--seconds must be a positive number, not ${JSON.stringify(opts.seconds)}`);
  if (!(maxGap >= 0)) throw new UserError(`--max-gap must be a number of milliseconds, not ${JSON.stringify(opts.maxGap)}`);
  if (opts.mac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(opts.mac)) throw new UserError(`--mac must look like 02:00:00:00:00:01, not ${JSON.stringify(opts.mac)}`);
  if (opts.live && opts.replay) throw new UserError("--live and --replay exclude each other: talk to a real server, or replay a capture");
  if (opts.live && !opts.iface) throw new UserError("--live needs --iface: the interface whose real channel the calf uses");
  if (opts.live && process.getuid?.() !== 0) throw new UserError("--live opens the service's packet or UDP socket on the interface, which needs root");
  if (opts.iface !== undefined && !/^[^\s/]{1,15}$/.test(opts.iface)) throw new UserError(`${JSON.stringify(opts.iface)} is not an interface name (1–15 characters, no '/' or spaces)`);
  const settings: Record<string, string> = {};
  for (const s of opts.set) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UserError(`--set ${JSON.stringify(s)} is not NAME=VALUE`);
    settings[s.slice(0, eq)] = s.slice(eq + 1);
  }

  // The capture is read before anything is built, so a bad file costs nothing.
  let captured: CapturedPacket[] = [];
  if (opts.replay) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.replay);
    } catch (err) {
      throw new UserError(`cannot read ${opts.replay}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const capture = readCapture(bytes);
    if (!capture.ok) throw new UserError(`${opts.replay} is not a capture this tool reads: ${capture.error.detail}`);
    captured = capture.value.packets;
  }

  const loaded = await loadService(spec);
  const def = loaded.definition;
  const log = createLogger("debug", "text");
  const isDhcp4 = BUILTIN_SERVICES.dhcp4 === def;
  const describe = isDhcp4 ? describeDhcpFrame : describeFrame;
  const work = mkdtempSync(path.join(tmpdir(), "paddock-calf-dev-"));
  const stateDir = path.join(work, "state");
  const cleanups: Array<() => void | Promise<void>> = [() => loaded.cleanup()];
  let failure: string | undefined;
  try {
    let options;
    try {
      options = parseServiceOptions(def, settings);
    } catch (err) {
      if (err instanceof ServiceOptionError) throw new UserError(err.message);
      throw err;
    }
    const iface: ServiceInterface = opts.live
      ? { ...realInterface(opts.iface!), ...(opts.mac ? { mac: opts.mac } : {}) }
      : { name: opts.iface ?? DEFAULT_DEV_IFACE, index: 1, mac: opts.mac ?? DEFAULT_DEV_MAC, mtu: 1500 };
    if (def.needsMac && !iface.mac) throw new UserError(`${def.name} needs an Ethernet (MAC) address, and ${iface.name} has none: give one with --mac`);
    const mac = iface.mac ? new Uint8Array(iface.mac.split(":").map((h) => parseInt(h, 16))) : undefined;

    // The store, setup, and the keys the priv writes before the calf starts (as ServiceHost does).
    const store = new KvStore({ schema: { name: def.name, description: def.description, entries: def.schema.entries, maxTotalBytes: def.schema.maxTotalBytes }, stateDir, log: log.child({ component: "kv" }) });
    const server = new KvServer(store, log.child({ component: "kv" }));
    cleanups.push(() => store.close(), () => server.close());
    store.watch("/", (e) => {
      for (const c of e.changes) log.info({ component: "kv", seq: e.seq.toString() }, c.value === null ? `del ${c.path}` : `put ${c.path} ${c.value}`);
    });
    const setup: ServiceSetup =
      (await def.setup?.(setupContext(store, { iface, options, stateDir, log: log.child({ component: "setup" }) }))) ?? {};
    const priv = { role: "priv" as const, name: "priv" };
    for (const [key, value] of Object.entries(setup.privKeys ?? {})) {
      const segments = key.split("/").filter(Boolean);
      const r = value === null ? await store.delete(priv, segments) : await store.write(priv, segments, enc.encode(value));
      if (!r.ok) throw new UserError(`${def.name}'s setup sets ${key} = ${JSON.stringify(value)}, which its schema refuses: ${r.error.message}`);
    }
    const handlers = setup.handlers ?? [];
    if (opts.handlers && handlers.length > 0) {
      // The lock a host holds in a state directory: handlers that compose with other processes
      // (resolv.conf) tell by it that this one is alive.
      const lock = acquirePidLock(stateDirLockFile(stateDir));
      cleanups.push(() => lock.release());
      const runner = new HandlerRunner({ source: store, handlers, log: log.child({ component: "handlers" }) });
      runner.start();
      cleanups.push(() => runner.stop());
    } else if (handlers.length > 0) {
      log.info({ component: "dev", handlers: handlers.length }, "not running the service's handlers (they change the system; --handlers runs them)");
    }

    // The calf's bundle: from its sources with a source map when we have them.
    const source = calfSource(spec, loaded);
    let script = loaded.calfScript;
    if (source) {
      script = path.join(work, "calf.mjs");
      try {
        const built = await bundleCalf(source, script, { sourcemap: true });
        log.info({ component: "dev", bytes: built.bytes }, `built ${path.relative(process.cwd(), source)}`);
      } catch (err) {
        const cause = (err as Error).cause;
        throw new UserError(`cannot build the calf ${source} of ${def.name}: ${(err as Error).message}${cause ? `:\n${esbuildMessages(cause)}` : ""}`);
      }
    } else {
      log.info({ component: "dev" }, `running the built calf ${script} (no sources: its stack traces are not source-mapped)`);
    }

    // Egress: the service's checks, as the priv applies them.
    const ch = def.channels;
    const frameCheck: EgressCheck | undefined = ch.packet ? packetEgress({ mac, rules: ch.packet.egress, maxFrameBytes: ch.packet.maxFrameBytes, ...(setup.checkFrame ? { check: setup.checkFrame } : {}) }) : undefined;
    const datagramCheck: DatagramCheck | undefined = ch.udp ? datagramEgress({ remotePort: ch.udp.remotePort, maxDatagramBytes: ch.udp.maxDatagramBytes, peers: setup.udpPeers ?? (() => []) }) : undefined;

    const [control, data] = await createSocketPairs(work, 2);
    server.serve(control!.priv, { role: "calf", name: "calf:dev" });
    // A calf that exits with messages unread resets its end: that is its exit, reported below.
    data!.priv.on("error", (err) => log.debug({ component: "datapath", err: err.message }, "data channel error"));
    control!.priv.on("error", (err) => log.debug({ component: "kv", err: err.message }, "control channel error"));
    const toCalf = (m: DataMessage) => {
      if (!data!.priv.destroyed) data!.priv.write(encodeDataMessage(m));
    };

    // --live: the service's real channels on the interface.
    let packetSocket: PacketSocket | undefined;
    let udpSocket: UdpSocket | undefined;
    if (opts.live) {
      try {
        if (ch.packet) {
          packetSocket = openPacketSocket({ ifname: iface.name, filter: compileSocketFilter(ch.packet.receive).bytes, protocol: socketMatchProtocol(ch.packet.receive) });
          const s = packetSocket;
          cleanups.push(() => s.close());
          s.onFrame((frame, rxTimeNs, checksumPending) => {
            log.info({ component: "datapath" }, `to calf: ${describe(frame)}`);
            toCalf(checksumPending ? { kind: "frame", data: frame, rxTimeNs, checksumPending } : { kind: "frame", data: frame, rxTimeNs });
          });
          s.onError((err) => log.warn({ component: "datapath", err: err.message }, "packet socket receive error"));
        }
        if (ch.udp) {
          udpSocket = openUdpSocket({ address: "0.0.0.0", port: ch.udp.localPort, ifname: iface.name });
          const s = udpSocket;
          cleanups.push(() => s.close());
          s.onMessage((payload, peer, rxTimeNs) => {
            log.info({ component: "datapath" }, `to calf: ${payload.length}-byte datagram from ${peerText(peer)}`);
            toCalf({ kind: "datagram", data: payload, peerAddress: peer.address, peerPort: peer.port, rxTimeNs });
          });
          s.onError((err) => log.debug({ component: "datapath", err: err.message }, "UDP socket receive error"));
        }
      } catch (err) {
        throw new UserError(`cannot open ${def.name}'s channel on ${iface.name}: ${(err as Error).message}`);
      }
    }

    // What the calf sends: checked, printed, and with --live sent.
    const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
    const wouldSend = opts.live ? "sent" : "would send";
    data!.priv.on("data", (chunk: Buffer) => {
      const { frames, error } = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const f of frames) {
        const m = decodeDataMessage(f);
        if (!m.ok) {
          log.warn({ component: "datapath", code: m.error.code, detail: m.error.detail }, "the calf broke the data-path protocol (the priv would disconnect it)");
          continue;
        }
        const v = m.value;
        if (v.kind === "frame" && frameCheck) {
          const refusal = frameCheck(v.data);
          let verdict = refusal ? refusal.code : wouldSend;
          if (!refusal && packetSocket) {
            try {
              packetSocket.send(v.data);
            } catch (err) {
              verdict = `send failed: ${(err as Error).message}`;
            }
          }
          log.info({ component: "datapath", verdict, ...(refusal ? { detail: refusal.detail } : {}) }, `calf sends ${describe(v.data)}`);
        } else if (v.kind === "datagram" && datagramCheck) {
          const peer = { address: v.peerAddress, port: v.peerPort };
          const refusal = datagramCheck(v.data, peer);
          let verdict = refusal ? refusal.code : wouldSend;
          if (!refusal && udpSocket) {
            try {
              udpSocket.sendTo(v.data, peer.address, peer.port);
            } catch (err) {
              verdict = `send failed: ${(err as Error).message}`;
            }
          }
          log.info({ component: "datapath", verdict, ...(refusal ? { detail: refusal.detail } : {}) }, `calf sends a ${v.data.length}-byte datagram to ${peerText(peer)}`);
        } else {
          log.warn({ component: "datapath" }, `the calf sent a ${v.kind} message, but ${def.name} has no channel for it (the priv would disconnect it)`);
        }
      }
      if (error) log.warn({ component: "datapath", code: error.code, detail: error.detail }, "the calf broke the data-path framing (the priv would disconnect it)");
    });

    // The calf: an ordinary process (nobody when we are root), fds 3 and 4, an empty environment.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chmodSync(work, 0o711);
    const child = spawn(process.execPath, ["--enable-source-maps", script], {
      stdio: ["ignore", "pipe", "pipe", control!.calf, data!.calf],
      env: {},
      cwd: "/",
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    control!.calf.destroy();
    data!.calf.destroy();
    cleanups.push(() => {
      control!.priv.destroy();
      data!.priv.destroy();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.once("error", (err) => log.error({ component: "dev", err: err.message }, "cannot start the calf"));
    for (const [stream, level] of [["stdout", "info"], ["stderr", "warn"]] as const) {
      let rest = "";
      child[stream]!.on("data", (c: Buffer) => {
        const lines = (rest + c.toString()).split("\n");
        rest = lines.pop()!;
        for (const l of lines) {
          if (!l) continue;
          const rec = parseCalfLogLine(l, level);
          const { stack, ...fields } = rec.fields;
          log[rec.level]({ component: "calf", ...fields }, rec.msg);
          // A stack trace reads best as it is, one frame a line.
          if (typeof stack === "string") process.stdout.write(`${stack.replace(/^/gm, "    ")}\n`);
        }
      });
    }
    toCalf({ kind: "link", up: true, carrier: true, mtu: iface.mtu });

    // --replay: the capture's messages, paced by its gaps (each at most --max-gap), with its times.
    let stopped = false;
    if (opts.replay) {
      const { items, skipped } = replayItems(def, captured);
      log.info({ component: "dev", messages: items.length, skipped }, `replaying ${opts.replay} (${skipped} packets are not for ${def.name}'s channels)`);
      void (async () => {
        let previous = NaN;
        for (const item of items) {
          const gap = Number.isFinite(previous) && Number.isFinite(item.timestamp) ? Math.max(0, (item.timestamp - previous) * 1000) : 0;
          previous = item.timestamp;
          if (gap > 0) await sleep(Math.min(gap, maxGap));
          if (stopped) return;
          const m = item.message;
          const rxTimeNs = m.rxTimeNs === 0n ? BigInt(Date.now()) * 1_000_000n : m.rxTimeNs;
          log.info({ component: "datapath" }, m.kind === "frame" ? `to calf: ${describe(m.data)}` : `to calf: ${m.data.length}-byte datagram from ${peerText({ address: m.peerAddress, port: m.peerPort })}`);
          toCalf({ ...m, rxTimeNs });
        }
      })();
    }

    let onSignal: (() => void) | undefined;
    const why = await Promise.race([
      exited,
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), seconds * 1000).unref()),
      new Promise<"signal">((r) => {
        onSignal = () => r("signal");
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
      }),
    ]);
    stopped = true;
    process.off("SIGINT", onSignal!);
    process.off("SIGTERM", onSignal!);
    if (why === "timeout" || why === "signal") {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      const end = await exited;
      clearTimeout(t);
      log.info({ component: "dev", code: end.code, ...(end.signal ? { signal: end.signal } : {}) }, why === "timeout" ? `calf stopped after ${seconds} s` : "calf stopped");
    } else if (why.code === 0) {
      log.info({ component: "dev", code: 0 }, "calf exited by itself");
    } else {
      failure = why.signal ? `the calf crashed (killed by ${why.signal})` : `the calf exited with code ${why.code}`;
      log.error({ component: "dev", code: why.code, ...(why.signal ? { signal: why.signal } : {}) }, "calf failed");
    }
    await store.settled();
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ component: "dev", err: (err as Error).message }, "cleanup step failed");
      }
    }
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else log.info({ component: "dev" }, `kept ${work}`);
  }
  // Give the logger's lines a turn to reach stdout before the error line on stderr.
  await sleep(0);
  if (failure) throw new UserError(failure);
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerCalf(program: Command): void {
  const calf = program.command("calf").description("tools for writing calves with the SDK");
  calf
    .command("dev")
    .description(
      "run a service's calf without its sandbox: fd 3 is a real store with the service's schema and the keys its setup writes, " +
        "fd 4 carries its channels' frames or datagrams from a capture (--replay) or from the real interface (--live, root); " +
        "what the calf sends is checked by the service's egress checks and printed (--live: and sent). " +
        "The calf is NOT sandboxed in either mode (an ordinary process, as nobody when run as root): never feed it traffic you do not trust. " +
        "Exits non-zero when the calf crashes or exits non-zero.",
    )
    .argument("<service>", "a built-in service name (dhcp4), a service module (./service.ts) or a paddock build directory")
    .option("--replay <capture>", "a pcap/pcapng file: Ethernet frames for a packet channel, UDP payloads to the local port for a UDP channel; paced and timestamped as captured")
    .option("--live", "use the service's real channel on --iface (packet socket with its filter, or UDP socket) and really send what passes the egress checks; root only")
    .option("--iface <name>", "the interface (--live: the real one; otherwise the fake interface's name)")
    .option("--set <NAME=VALUE>", "a service option, as paddock run takes it (repeatable)", collect, [])
    .option("--mac <mac>", `the interface's MAC (default: ${DEFAULT_DEV_MAC}, or the real interface's with --live)`)
    .option("--handlers", "also run the service's handlers (they change this system: addresses, routes, resolv.conf …)")
    .option("--max-gap <ms>", "longest pause between replayed packets", "1000")
    .option("--seconds <n>", "stop the calf after this long", "5")
    .option("--keep", "keep the temporary state directory (store file and audit log)")
    .action(dev);
}
