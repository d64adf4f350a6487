/**
 * Loads the compiled addon (native/build/Release/paddock_native.node) lazily, so importing
 * this package for its types, the cBPF builder or the filters needs no compiled code.
 * PADDOCK_NATIVE_DIR overrides the directory holding paddock_native.node and the *.bpf.o
 * objects (for a bundled CLI whose import.meta.url is not this file).
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { NativeError } from "./errors.ts";

/** The raw socket object of the addon; wrapped by the typed classes in ./sockets.ts. */
export interface RawSocket {
  start(
    onMessage: (...args: never[]) => void,
    onError: (err: NativeError) => void,
    onTxTimestamp?: (sendId: number, txTimeNs: bigint) => void,
  ): void;
  send(bytes: Uint8Array): void;
  sendTo(bytes: Uint8Array, address: string, port: number): number;
  close(): void;
  ref(): void;
  unref(): void;
  setClassicFilter(program: Uint8Array): void;
  detachFilter(): void;
  stats(): { delivered: number; discarded: number; kernelPackets: number; kernelDrops: number };
}

/** The raw libbpf object wrapper; see ./ebpf.ts. */
export interface RawBpfObject {
  programFd(name: string): number;
  mapLookup(map: string, key: Uint8Array): Buffer;
  mapUpdate(map: string, key: Uint8Array, value: Uint8Array): void;
  testRun(program: string, frame: Uint8Array, mark: number): number;
  close(): void;
}

/** Who connected an AF_UNIX socket, as the kernel recorded it at connect(2). */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** Interface selector accepted by the addon: by name or by index, in the target namespace. */
export interface RawIfaceOptions {
  ifname?: string;
  ifindex?: number;
  netnsPath?: string;
}

/** What the compiled addon exports (see native/src/*.cc for each function's contract). */
export interface RawAddon {
  setErrorFactory(f: (n: number, name: string, syscall: string, detail: string, text: string) => NativeError): void;
  openPacket(o: RawIfaceOptions & {
    protocol: number;
    classicFilter?: Uint8Array;
    bpfProgFd?: number;
    mark?: number;
    receiveBufferBytes?: number;
  }): { socket: RawSocket; ifindex: number };
  openUdp(o: { address: string; port: number; netnsPath?: string; reuseAddress?: boolean; ifname?: string; mark?: number; txTimestamps?: boolean }): {
    socket: RawSocket;
    address: string;
    port: number;
  };
  sendUnixDatagram(path: string, bytes: Uint8Array): void;
  /** SO_PEERCRED of a connected AF_UNIX socket (native/src/socket.cc). */
  peerCredentials(fd: number): PeerCredentials;
  openNetlinkRoute(o: { groups?: number[]; netnsPath?: string; extendedAck?: boolean }): {
    socket: RawSocket;
    portId: number;
  };
  BpfObject: new (path: string) => RawBpfObject;
  tcAttachEgress(o: RawIfaceOptions & { progFd: number; handle: number; priority: number; replace?: boolean }): {
    ifindex: number;
    createdQdisc: boolean;
    progId: number;
  };
  tcQueryEgress(o: RawIfaceOptions & { handle: number; priority: number }): number | null;
  tcDetachEgress(o: RawIfaceOptions & { handle: number; priority: number }): boolean;
  tcDestroyClsact(o: RawIfaceOptions): boolean;
  tcCountFilters(o: RawIfaceOptions): { ingress: number; egress: number };
  bpfProgramName(id: number): string | null;
  /** clock_adjtime(2) on a 208-byte struct timex (./clock.ts encodes it); returns the clock state. */
  clockAdjtime(clockId: number, timex: Uint8Array): number;
  /** The priv's sandbox (native/src/sandbox.cc; ./sandbox.ts). */
  dropCapabilities(keep: bigint, lastCap: number): { threads: number; unreachable: number[] };
  installSeccomp(program: Uint8Array): void;
  ignoreDebugSignal(): void;
}

/** Directory of paddock_native.node and the compiled eBPF objects. */
export function nativeBuildDir(): string {
  return process.env.PADDOCK_NATIVE_DIR ?? fileURLToPath(new URL("../build/Release/", import.meta.url));
}

/** Path of a compiled eBPF object, e.g. bpfObjectPath("dhcp_filter"). */
export function bpfObjectPath(name: string): string {
  return join(nativeBuildDir(), `${name}.bpf.o`);
}

let loaded: RawAddon | undefined;

/** The addon, loaded on first use; throws if it was not built (run scripts/setup.sh). */
export function addon(): RawAddon {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    const raw = require(join(nativeBuildDir(), "paddock_native.node")) as RawAddon;
    raw.setErrorFactory((n, name, syscall, detail, text) => new NativeError(n, name, syscall, detail, text));
    loaded = raw;
  }
  return loaded;
}
