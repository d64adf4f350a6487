/**
 * dhcp-observer: an example calf written only against the public SDK (@paddock/calf) and the
 * DHCP codec (@paddock/dhcp4).
 *
 * Holds: no capabilities, no network, read-only root (the priv's sandbox).
 * Fds: 3 control (KV, dhcp4 schema), 4 data (DHCP frames to port 68, as the DHCP filter passes them).
 * KV paths it writes: /state/servers (JSON: the DHCP servers seen on the link). It sends nothing.
 */
import { runCalf, type CalfProfile } from "@paddock/calf";
import { observe, type ServerSeen } from "./observer.ts";

export const profile: CalfProfile = { name: "dhcp-observer", schema: "dhcp4", egress: "dhcp4-client", memoryMiB: 64, pids: 32 };

/** Publish at most this often: a burst of offers becomes one store write. */
const PUBLISH_INTERVAL_MS = 1000;

void runCalf(profile, async (ctx) => {
  const servers = new Map<string, ServerSeen>();
  let dirty = false;

  // Resume from what an earlier run published (the calf may be restarted at any time).
  try {
    for (const s of JSON.parse(await ctx.kv.read("/state/servers")) as ServerSeen[]) servers.set(s.id, s);
  } catch {
    // Nothing published yet (PADDOCK_E_KV_NOT_FOUND), or unreadable: start empty.
  }

  const publish = async () => {
    if (!dirty) return;
    dirty = false;
    await ctx.kv.write("/state/servers", JSON.stringify([...servers.values()]));
  };

  ctx.data.onFrame((frame, _rxTimeNs, info) => {
    if (!observe(servers, frame, ctx.now(), info.checksumPending)) return;
    dirty = true;
    ctx.log.info({ servers: servers.size }, "DHCP server message seen");
    if (!ctx.timers.names.includes("publish")) {
      ctx.timers.set("publish", ctx.now() + PUBLISH_INTERVAL_MS, () => void publish());
    }
  });
  ctx.data.onLink((link) => ctx.log.info({ up: link.up, carrier: link.carrier }, "link"));
  // On stop, publish what is pending; the SDK waits for it before the calf exits.
  ctx.onStop(publish);
});
