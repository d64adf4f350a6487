/**
 * The DHCPv4 client calf's profile, and what it holds (its limits are in the DHCP service's
 * definition, packages/services/dhcp4/service/src/index.ts).
 *
 * Holds: no capabilities, no network (its own netns with only lo), a read-only root, tmpfs /tmp,
 * the seccomp allowlist of packages/runtime/src/sandbox, an empty environment.
 * Fds: 3 control (KV, dhcp4 schema, calf rights), 4 data (frames the DHCP filter passed: IPv4 UDP
 * to port 68 and ARP; frames out — BOOTREQUESTs, RFC 5227 probes and announcements — are checked
 * by the dhcp4-client egress policy).
 * KV paths it writes: /ip /gateway /mtu /domain /search /nameserver/NNN /route/NNN /ntp/NNN
 * /lease/expires /lease/server /lease/obtained /lease/renew /lease/rebind /client/state
 * /client/ipv6-only-until (RFC 8925)
 * /state/lease; reads /mac, /config/*, /state/lease; watches /config (a reload) and /control
 * (an operator's renew and release, ./control.ts).
 */
import type { CalfProfile } from "@paddock/calf";

export const dhcp4CalfProfile: CalfProfile = { name: "dhcp4" };
