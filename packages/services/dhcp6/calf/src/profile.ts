/**
 * The DHCPv6 client calf's profile, and what it holds (its limits are in the DHCPv6 service's
 * definition, packages/services/dhcp6/service/src/index.ts).
 *
 * Holds: no capabilities, no network (its own netns with only lo), a read-only root, tmpfs /tmp,
 * the seccomp allowlist of packages/runtime/src/sandbox, an empty environment. It parses every
 * DHCPv6 message (the @paddock/dhcp6 core) and applies nothing: it publishes the lease, and the
 * priv's lease handler applies it.
 * Fds: 3 control (KV, dhcp6 schema, calf rights), 4 data (datagrams to port 546 of the interface
 * with the kernel's receive timestamps; out only to ff02::1:2 port 547, from port 546).
 * KV paths it writes, one commit per lease: /lease/{mode,server,server-duid,obtained,renew-at},
 * /address/NNN/{ip,preferred-until,valid-until}, /prefix/NNN/{prefix,preferred-until,valid-until,
 * exclude}, /dns/NNN, /domain/NNN; reads /config/… and /input/ra/flags/{managed,other}, which it
 * watches (mode auto follows the RA's M and O flags).
 */
import type { CalfProfile } from "@paddock/calf";

export const dhcp6CalfProfile: CalfProfile = { name: "dhcp6" };
