/**
 * @paddock/native: the thin native layer (STYLE.md §11). Sockets TypeScript cannot open
 * (AF_PACKET with a locked filter, UDP with kernel timestamps, NETLINK_ROUTE), eBPF through
 * libbpf, the pure-TypeScript classic BPF builder and socket-filter compiler, and the declarative
 * packet patterns that socket filters and egress policies are built from. Every failure of a
 * system call is a NativeError carrying the errno name and the call that failed.
 */
export { NativeError, isNativeError, type NativeErrorCode } from "./errors.ts";
export {
  ETH_P_ALL,
  ETH_P_IP,
  openNetlinkRoute,
  openPacketSocket,
  openUdpSocket,
  peerCredentials,
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
  removeEgressFilter,
  removeEgressLeftovers,
  type EgressAttachOptions,
  type EgressCounters,
  type EgressSlot,
  type EgressTarget,
  type FilterCounters,
} from "./ebpf.ts";
export { bpfObjectPath, nativeBuildDir, type PeerCredentials } from "./addon.ts";
export * from "./clock.ts";
export { dropCapabilities, ignoreDebugSignal, installSeccomp, type CapabilityDrop } from "./sandbox.ts";
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
  MAX_RECEIVE_PATTERNS,
  checkSocketMatch,
  compileSocketFilter,
  matchSocketMatch,
  socketFilterSource,
  socketMatchProtocol,
  type SocketMatch,
} from "./filters.ts";
export {
  DHCP_CLIENT_EGRESS_RULES,
  EGRESS_CONFIG_BYTES,
  MAX_EGRESS_RULES,
  PacketPatternError,
  checkEgressRules,
  checkPacketPattern,
  encodeEgressConfig,
  matchEgressRules,
  matchPacketPattern,
  parseEgressRules,
  type ArpPattern,
  type EgressRule,
  type Icmpv6Pattern,
  type PacketPattern,
  type PacketPatternErrorCode,
  type PacketPatternErrorKind,
  type PatternResult,
  type UdpPattern,
} from "./egress-rules.ts";
