/**
 * @paddock/testkit: network-namespace labs for integration tests (see docs/testkit.md).
 *
 *   const lab = createLab({ prefix: "mytest" });
 *   const server = lab.namespace("server"), client = lab.namespace("client");
 *   const link = lab.veth(server, client, { addresses: { a: "10.81.0.1/24" } });
 *   await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer("10.81.0") });
 *   const shim = startPaddock(lab, client, ["dhcp", "--iface", link.b.name, …]);
 *   const addr = await waitForAddress(lab, client, link.b.name);
 *   await lab.destroy();
 */
export { TestkitError, type TestkitErrorCode } from "./errors.ts";
export { canCreateLabs, DEBIAN_PACKAGES, hasCommand, hasCommands, LAB_SKIP_REASON, requireCommands, runAsync, runOk, type RunResult } from "./commands.ts";
export { isSameProcess, LabProcess, processesNaming, processTree, procStartTime, signalPid, STOP_GRACE_MS, type ProcessExit, type WaitForLogOptions } from "./process.ts";
export { DEFAULT_WAIT_MS, waitFor, type WaitOptions } from "./wait.ts";
export {
  createLab,
  defaultRegistryDir,
  inNamespace,
  ipJson,
  Lab,
  MAX_IFNAME_BYTES,
  MAX_PREFIX_CHARS,
  nsName,
  removeLeftovers,
  uniqueName,
  type LabOptions,
  type LeftoverReport,
  type NamespaceOptions,
  type Netns,
  type NsRef,
  type SpawnOptions,
  type Veth,
  type VethEnd,
  type VethOptions,
} from "./lab.ts";
export { ADDRESS_WAIT_MS, addresses, holdsNetlinkSubscription, holdsUdpPort, linkMtu, routes, waitForAddress, waitForNetlinkSubscription, waitForUdpPort, type Family, type IpAddrInfo, type IpRoute, type WaitForAddressOptions } from "./net.ts";
export { startServer, type CommonServerOptions, type ServerCommand } from "./servers/server.ts";
export {
  classlessBytes,
  defaultOffer,
  dnsmasqCommand,
  iscDhcpdCommand,
  kea4Command,
  prefixToMask,
  startDnsmasq,
  startIscDhcpd,
  startKea4,
  startUdhcpd,
  udhcpdCommand,
  type Dhcp4ServerOptions,
  type DnsmasqOptions,
  type IscDhcpdOptions,
  type Kea4Options,
  type ServerOffer,
  type UdhcpdOptions,
} from "./servers/dhcp4.ts";
export { chronyCommand, startChrony, type ChronyOptions } from "./servers/ntp.ts";
export { radvdCommand, startRadvd, type RadvdOptions } from "./servers/radvd.ts";
export {
  defaultOffer6,
  dnsmasq6Command,
  iscDhcpd6Command,
  kea6Command,
  startDnsmasq6,
  startIscDhcpd6,
  startKea6,
  type Dhcp6Offer,
  type Dhcp6ServerOptions,
  type Dnsmasq6Options,
  type IscDhcpd6Options,
  type Kea6Options,
} from "./servers/dhcp6.ts";
export { calfEngineLaneArgs, containerRuntimeLaneArgs, findPaddockBin, PaddockProcess, removeRuncContainers, startPaddock, type LogEntry, type StartPaddockOptions } from "./paddock.ts";
export { startNotifyReceiver, type NotifyReceiver } from "./notify.ts";
export { listCalfContainers, runningCalfPid, type CalfContainer } from "./containers.ts";
