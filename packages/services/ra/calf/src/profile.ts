/**
 * The RA client calf's profile, and what it holds (its limits are in the RA service's definition,
 * packages/services/ra/service/src/index.ts).
 *
 * Holds: no capabilities, no network (its own netns with only lo), a read-only root, tmpfs /tmp,
 * the seccomp allowlist of packages/runtime/src/sandbox, an empty environment. Never the RFC 7217
 * secret: the priv's handler makes the addresses; the calf only says which prefixes allow them.
 * Fds: 3 control (KV, ra schema, calf rights), 4 data (ICMPv6 Router Advertisements the kernel
 * filter passed; Router Solicitations out, checked by the priv and the tc program).
 * KV paths it writes: /router/NNN, /prefix/NNN, /route/NNN, /dns/NNN, /search/NNN, /mtu,
 * /flags/managed, /flags/other (one commit per change); reads /config/mac, /config/link-mtu,
 * /config/link-local, /config/solicit.
 */
import type { CalfProfile } from "@paddock/calf";

export const raCalfProfile: CalfProfile = { name: "ra" };
