/**
 * The NTP client calf's profile, and what it holds (its limits are in the NTP service's
 * definition, packages/services/ntp/service/src/index.ts).
 *
 * Holds: no capabilities, no network (its own netns with only lo), a read-only root, tmpfs /tmp,
 * the seccomp allowlist of packages/runtime/src/sandbox, an empty environment. It never touches
 * the clock: it publishes an adjustment, and the priv's clock handler decides.
 * Fds: 3 control (KV, ntp schema, calf rights), 4 data (datagrams from the servers' port 123 with
 * the kernel's receive timestamps; requests out go to port 123 of the configured servers only).
 * KV paths it writes: /source/NNN/{address,state,reach,stratum,poll,offset,delay,jitter} and
 * /adjustment/{id,offset,frequency,step,max-error,est-error,leap}; reads /config/server/NNN,
 * /config/initial-frequency,
 * /input/dhcp4/ntp/NNN, /clock/applied/…; watches /input/dhcp4/ntp (a lease's servers) and
 * /clock/applied (the handler's report, fed to the core as its `applied` event).
 */
import type { CalfProfile } from "@paddock/calf";

export const ntpCalfProfile: CalfProfile = { name: "ntp" };
