/**
 * @paddock/native: the thin native layer (STYLE.md §11). Sockets TypeScript cannot open
 * (AF_PACKET with a locked filter, UDP with kernel timestamps, NETLINK_ROUTE), eBPF through
 * libbpf, and the pure-TypeScript classic BPF builder and DHCP filter. Every failure of a
 * system call is a NativeError carrying the errno name and the call that failed.
 */
export { NativeError, isNativeError, type NativeErrorCode } from "./errors.ts";
export {
  ETH_P_ALL,
  ETH_P_IP,
  openNetlinkRoute,
  openPacketSocket,
  openUdpSocket,
  sendUnixDatagram,
  type InterfaceRef,
  type NetlinkRouteOptions,
  type NetlinkSocket,
  type PacketSocket,
  type PacketSocketOptions,
  type PacketSocketStats,
  type UdpPeer,
  type UdpSocket,
  type UdpSocketOptions,
} from "./sockets.ts";
export {
  EGRESS_PROGRAM_NAME,
  EGRESS_TC_HANDLE,
  EGRESS_TC_PRIORITY,
  EbpfSocketFilter,
  EgressPolicy,
  removeEgressLeftovers,
  type EgressCounters,
  type EgressTarget,
  type FilterCounters,
} from "./ebpf.ts";
export { bpfObjectPath, nativeBuildDir } from "./addon.ts";
export * as cbpf from "./cbpf.ts";
export {
  assemble,
  bpf,
  MAX_CLASSIC_INSNS,
  type AssembleResult,
  type CbpfError,
  type ClassicProgram,
  type Insn,
  type SockFilter,
} from "./cbpf.ts";
export {
  ACCEPT_ALL_FILTER,
  DHCP_CLIENT_FILTER,
  DHCP_CLIENT_FILTER_SOURCE,
  DROP_ALL_FILTER,
} from "./filters.ts";
