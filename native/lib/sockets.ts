/**
 * Typed sockets over the addon: NETLINK_ROUTE, AF_PACKET with a locked filter, and UDP with
 * kernel receive timestamps. Receive is event-driven (uv_poll on the Node loop): it never
 * blocks the loop, and close() ends a pending receive at once.
 */
import { addon, type PeerCredentials, type RawSocket } from "./addon.ts";
import type { EbpfSocketFilter, FilterCounters } from "./ebpf.ts";
import type { NativeError } from "./errors.ts";

/** Ethertype for IPv4 (the DHCP client's socket). */
export const ETH_P_IP = 0x0800;
/** Pseudo-ethertype for every protocol (the filter alone decides). */
export const ETH_P_ALL = 0x0003;

/**
 * Listener plumbing shared by the socket classes: receive starts with the first message
 * listener (frames wait in the kernel until then); an error without an error listener is
 * thrown, like an EventEmitter 'error' event nobody handles.
 */
class Listeners<A extends unknown[]> {
  private readonly message: ((...args: A) => void)[] = [];
  private readonly error: ((err: NativeError) => void)[] = [];
  private readonly tx: ((sendId: number, txTimeNs: bigint) => void)[] = [];
  private started = false;

  constructor(private readonly raw: RawSocket) {}

  addMessage(cb: (...args: A) => void): void {
    this.message.push(cb);
    this.start();
  }

  /** Transmit timestamps also start receiving: they arrive through the same poll handle. */
  addTx(cb: (sendId: number, txTimeNs: bigint) => void): void {
    this.tx.push(cb);
    this.start();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.raw.start(
      ((...args: A) => {
        for (const l of this.message) l(...args);
      }) as unknown as (...args: never[]) => void,
      (err: NativeError) => {
        if (this.error.length === 0) throw err;
        for (const l of this.error) l(err);
      },
      (sendId: number, txTimeNs: bigint) => {
        for (const l of this.tx) l(sendId, txTimeNs);
      },
    );
  }

  addError(cb: (err: NativeError) => void): void {
    this.error.push(cb);
  }
}

/** A NETLINK_ROUTE socket (packages/netlink builds its rtnetlink client on this). */
export interface NetlinkSocket {
  /** The port id the kernel assigned (nlmsg_pid of our requests' replies). */
  readonly portId: number;
  /** Sends one netlink message (or a batch) to the kernel. Throws NativeError. */
  send(msg: Uint8Array): void;
  /** Each datagram received from the kernel, whole (it may hold several messages). */
  onMessage(cb: (datagram: Buffer) => void): void;
  /** Receive errors, e.g. ENOBUFS when the kernel dropped events: resynchronise with a dump. */
  onError(cb: (err: NativeError) => void): void;
  /** Closes the socket; no callback runs afterwards. Idempotent. */
  close(): void;
}

/** Options of openNetlinkRoute. */
export interface NetlinkRouteOptions {
  /** RTNLGRP_* multicast groups to join (numbers, not bit masks). */
  groups?: number[];
  /** Open the socket in this network namespace, e.g. "/run/netns/NAME". */
  netnsPath?: string;
  /** NETLINK_EXT_ACK (default true): error replies carry the kernel's message text. */
  extendedAck?: boolean;
}

/**
 * Opens a NETLINK_ROUTE socket. Datagrams from any sender but the kernel (port 0) are
 * discarded, since any local process may unicast to our port id.
 */
export function openNetlinkRoute(opts: NetlinkRouteOptions = {}): NetlinkSocket {
  const { socket, portId } = addon().openNetlinkRoute({
    groups: opts.groups ?? [],
    ...(opts.netnsPath === undefined ? {} : { netnsPath: opts.netnsPath }),
    extendedAck: opts.extendedAck ?? true,
  });
  const listeners = new Listeners<[Buffer]>(socket);
  return {
    portId,
    send: (msg) => socket.send(msg),
    onMessage: (cb) => listeners.addMessage(cb),
    onError: (cb) => listeners.addError(cb),
    close: () => socket.close(),
  };
}

/** Interface selection: by name or index, resolved inside the socket's namespace. */
export type InterfaceRef = { ifname: string; ifindex?: undefined } | { ifindex: number; ifname?: undefined };

/** Options of openPacketSocket. */
export type PacketSocketOptions = InterfaceRef & {
  /**
   * Attached before bind and locked (SO_LOCK_FILTER): a classic BPF program (struct
   * sock_filter[] bytes, see ./cbpf.ts) or a loaded eBPF socket filter (see ./ebpf.ts).
   */
  filter: Uint8Array | EbpfSocketFilter;
  /** Ethertype to bind to: ETH_P_IP or ETH_P_ALL. */
  protocol: number;
  /** SO_MARK on outgoing frames (the tc egress program keys on it). Needs CAP_NET_ADMIN. */
  mark?: number;
  /** Open the socket in this network namespace, e.g. "/run/netns/NAME". */
  netnsPath?: string;
  /** SO_RCVBUF(FORCE) in bytes; the kernel default otherwise. */
  receiveBufferBytes?: number;
};

/** Receive counters of a packet socket. */
export interface PacketSocketStats {
  /** Frames delivered to onFrame. */
  delivered: number;
  /** Frames dropped by us (larger than the receive buffer). */
  discarded: number;
  /** Frames that passed the filter (kernel PACKET_STATISTICS tp_packets, accumulated). */
  kernelPackets: number;
  /** Frames that passed the filter but found the receive queue full (tp_drops). */
  kernelDrops: number;
}

/** An AF_PACKET SOCK_RAW socket bound to one interface, with a locked filter. */
export interface PacketSocket {
  /** The interface index it is bound to (in its namespace). */
  readonly ifindex: number;
  /**
   * Each frame (from the Ethernet header) with its kernel receive time (ns since the epoch) and
   * whether its transport checksum is still pending (PACKET_AUXDATA TP_STATUS_CSUMNOTREADY: a
   * frame from a local veth/tap with checksum offload; do not verify its UDP/TCP checksum).
   */
  onFrame(cb: (frame: Buffer, rxTimeNs: bigint, checksumPending: boolean) => void): void;
  /** Receive errors (e.g. ENETDOWN). */
  onError(cb: (err: NativeError) => void): void;
  /** Sends a whole Ethernet frame on the interface. Throws NativeError. */
  send(frame: Uint8Array): void;
  /** Closes the socket at once, even with a receive pending; idempotent. */
  close(): void;
  /** Tries SO_DETACH_FILTER: throws NativeError EPERM, since the filter is locked. */
  tryDetachFilter(): void;
  /** Tries SO_ATTACH_FILTER with another program: throws NativeError EPERM (locked). */
  tryReplaceFilter(program: Uint8Array): void;
  /** Receive counters. */
  stats(): PacketSocketStats;
  /** The eBPF filter's pass/drop counters, or undefined with a classic filter. */
  filterCounters(): FilterCounters | undefined;
  /** Keep (default) or stop keeping the process alive while the socket is open. */
  ref(): void;
  /** See ref(). */
  unref(): void;
}

/**
 * Opens a packet socket: created with protocol 0 (receives nothing), filter attached and
 * locked, PACKET_IGNORE_OUTGOING and SO_TIMESTAMPNS set, optional SO_MARK, then bound to the
 * interface and protocol, so no unfiltered frame is ever queued (DESIGN.md invariant 2).
 */
export function openPacketSocket(opts: PacketSocketOptions): PacketSocket {
  const filter = opts.filter;
  const ebpf = filter instanceof Uint8Array ? undefined : filter;
  const { socket, ifindex } = addon().openPacket({
    ...(opts.ifname === undefined ? { ifindex: opts.ifindex } : { ifname: opts.ifname }),
    protocol: opts.protocol,
    ...(ebpf === undefined ? { classicFilter: filter as Uint8Array } : { bpfProgFd: ebpf.programFd() }),
    ...(opts.mark === undefined ? {} : { mark: opts.mark }),
    ...(opts.netnsPath === undefined ? {} : { netnsPath: opts.netnsPath }),
    ...(opts.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: opts.receiveBufferBytes }),
  });
  const listeners = new Listeners<[Buffer, bigint, boolean]>(socket);
  return {
    ifindex,
    onFrame: (cb) => listeners.addMessage(cb),
    onError: (cb) => listeners.addError(cb),
    send: (frame) => socket.send(frame),
    close: () => socket.close(),
    tryDetachFilter: () => socket.detachFilter(),
    tryReplaceFilter: (program) => socket.setClassicFilter(program),
    stats: () => socket.stats(),
    filterCounters: () => ebpf?.counters(),
    ref: () => socket.ref(),
    unref: () => socket.unref(),
  };
}

/** The sender of a UDP datagram. */
export interface UdpPeer {
  address: string;
  port: number;
}

/** Options of openUdpSocket. */
export interface UdpSocketOptions {
  /** Local address to bind ("0.0.0.0", "127.0.0.1", "::"). */
  address: string;
  /** Local port; 0 lets the kernel choose. */
  port: number;
  /** Open the socket in this network namespace, e.g. "/run/netns/NAME". */
  netnsPath?: string;
  /** SO_REUSEADDR. */
  reuseAddress?: boolean;
  /** SO_BINDTODEVICE to this interface. */
  ifname?: string;
  /**
   * SO_MARK on every datagram, set before bind (needs CAP_NET_ADMIN): the service's tc egress
   * program (EgressPolicy) keys on it, so the socket's traffic is policed by that service's rules.
   */
  mark?: number;
  /**
   * Software transmit timestamps (SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE, read from the
   * error queue): each datagram's time of hand-over to the device driver, delivered to
   * onTxTimestamp with the id sendTo returned (for NTP's T1). Needs Linux ≥ 6.13 (the per-send
   * id, SCM_TS_OPT_ID); older kernels fail with NativeError EOPNOTSUPP here.
   */
  txTimestamps?: boolean;
}

/** A UDP socket whose datagrams carry the kernel's receive timestamp (for NTP). */
export interface UdpSocket {
  /** The bound address. */
  readonly address: string;
  /** The bound port (the kernel's choice when 0 was asked). */
  readonly port: number;
  /** Each datagram with its sender and kernel receive time (ns since the epoch). */
  onMessage(cb: (data: Buffer, peer: UdpPeer, rxTimeNs: bigint) => void): void;
  /** Receive errors (e.g. ECONNREFUSED after an ICMP port unreachable). */
  onError(cb: (err: NativeError) => void): void;
  /**
   * Sends one datagram; returns its send id (0, 1, 2, … per socket), which its transmit
   * timestamp carries when txTimestamps is on. Throws NativeError.
   */
  sendTo(data: Uint8Array, address: string, port: number): number;
  /**
   * With txTimestamps: each sent datagram's software transmit time (ns since the epoch,
   * CLOCK_REALTIME like the receive timestamps) with its send id. A datagram dropped before the
   * driver (e.g. by a tc egress program) gets none. Starts receiving, like onMessage.
   */
  onTxTimestamp(cb: (sendId: number, txTimeNs: bigint) => void): void;
  /** Closes the socket at once, even with a receive pending; idempotent. */
  close(): void;
  /** Keep (default) or stop keeping the process alive while the socket is open. */
  ref(): void;
  /** See ref(). */
  unref(): void;
}

/**
 * Opens and binds a UDP socket with SO_TIMESTAMPNS (and, when asked, SO_MARK before bind and
 * software transmit timestamps).
 */
export function openUdpSocket(opts: UdpSocketOptions): UdpSocket {
  const { socket, address, port } = addon().openUdp({
    address: opts.address,
    port: opts.port,
    ...(opts.netnsPath === undefined ? {} : { netnsPath: opts.netnsPath }),
    ...(opts.reuseAddress === undefined ? {} : { reuseAddress: opts.reuseAddress }),
    ...(opts.ifname === undefined ? {} : { ifname: opts.ifname }),
    ...(opts.mark === undefined ? {} : { mark: opts.mark }),
    ...(opts.txTimestamps === undefined ? {} : { txTimestamps: opts.txTimestamps }),
  });
  const listeners = new Listeners<[Buffer, string, number, bigint]>(socket);
  return {
    address,
    port,
    onMessage: (cb) => listeners.addMessage((data, addr, p, ts) => cb(data, { address: addr, port: p }, ts)),
    onError: (cb) => listeners.addError(cb),
    sendTo: (data, addr, p) => socket.sendTo(data, addr, p),
    onTxTimestamp: (cb) => listeners.addTx(cb),
    close: () => socket.close(),
    ref: () => socket.ref(),
    unref: () => socket.unref(),
  };
}

/**
 * The pid, uid and gid of the process at the other end of a connected AF_UNIX socket (SO_PEERCRED),
 * given its descriptor. Throws NativeError (EBADF, ENOTSOCK, …) for anything else.
 */
export function peerCredentials(fd: number): PeerCredentials {
  return addon().peerCredentials(fd);
}

/**
 * Sends one datagram to an AF_UNIX SOCK_DGRAM socket (a path, or "@name" in the abstract
 * namespace): what sd_notify needs, which Node's dgram cannot do. Throws NativeError.
 */
export function sendUnixDatagram(path: string, bytes: Uint8Array): void {
  addon().sendUnixDatagram(path, bytes);
}
