/**
 * The DHCPv4 client's KV schema: the one contract module between the calf and the priv's
 * handlers (the calf's key writes and the handlers' reads both follow it).
 */
export { dhcp4Schema } from "@paddock/kv";
