/**
 * The client's configuration as the priv sets it: the /config/… keys (written before the calf
 * starts, and again by a reload), read into the core's ClientConfig. The calf watches /config so
 * that a reload reaches the running client: its lease, state and timers stay, and what it sends
 * next follows the new keys (a new host name goes out with the next renewal).
 */
import { type CalfContext, isCalfLogLevel, KvError } from "@paddock/calf";
import type { ClientConfig } from "@paddock/dhcp4";

/** The keys the configuration comes from (all priv-written, calf-readable). */
export const CONFIG_KEYS = [
  "/config/client-id",
  "/config/hostname",
  "/config/fqdn",
  "/config/vendor-class",
  "/config/request-options",
  "/config/keep-lease-on-reboot",
  "/config/release-on-stop",
  "/config/min-lease",
  "/config/log-level",
  "/config/arp-probe",
  "/config/ipv6-only-preferred",
] as const;

/** The configuration keys' values (absent keys are undefined). */
export type ConfigKeys = Map<string, string | undefined>;

/** Reads a key; undefined when it is not set. */
export async function readOptional(ctx: CalfContext, path: string): Promise<string | undefined> {
  try {
    return await ctx.kv.read(path);
  } catch (err) {
    if (err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND") return undefined;
    throw err;
  }
}

/** Reads every configuration key (pipelined: one round trip). */
export async function readConfigKeys(ctx: CalfContext): Promise<ConfigKeys> {
  const values = await Promise.all(CONFIG_KEYS.map((k) => readOptional(ctx, k)));
  return new Map(CONFIG_KEYS.map((k, i) => [k, values[i]]));
}

const bytesOfHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

/** The core's configuration from the keys (the store validated each of them); `mac` and `random` are the calf's. */
export function clientConfigFrom(keys: ConfigKeys, base: Pick<ClientConfig, "mac" | "random">): ClientConfig {
  const get = (k: (typeof CONFIG_KEYS)[number]) => keys.get(k);
  const clientId = get("/config/client-id");
  const requested = get("/config/request-options");
  const vendorClass = get("/config/vendor-class");
  const hostname = get("/config/hostname");
  const fqdn = get("/config/fqdn");
  const minLease = get("/config/min-lease");
  return {
    ...base,
    releaseOnStop: get("/config/release-on-stop") === "true",
    // Absent (an older priv): the default, keep a valid lease when no server answers at reboot.
    onRebootTimeout: get("/config/keep-lease-on-reboot") === "false" ? "init" : "keepLease",
    // The priv fixes the client identifier (and its egress check refuses any other).
    ...(clientId === "none" ? { clientId: { kind: "none" as const } } : clientId ? { clientId: { kind: "raw" as const, data: bytesOfHex(clientId) } } : {}),
    ...(hostname ? { hostname } : {}),
    ...(fqdn ? { fqdn: { name: fqdn } } : {}),
    // Printable ASCII (the schema's check): one byte per character.
    ...(vendorClass ? { vendorClass: Uint8Array.from(vendorClass, (c) => c.charCodeAt(0)) } : {}),
    ...(requested ? { parameterRequestList: requested.split(" ").map(Number) } : {}),
    ...(minLease ? { minLeaseSeconds: Number(minLease) } : {}),
    // RFC 5227 probing, announcing and defending; absent (an older priv): off.
    arpProbe: get("/config/arp-probe") === "true",
    // RFC 8925; absent (an older priv): off.
    ipv6OnlyPreferred: get("/config/ipv6-only-preferred") === "true",
  };
}

/** Applies the calf's log level key. */
export function applyLogLevel(ctx: CalfContext, keys: ConfigKeys): void {
  const level = keys.get("/config/log-level");
  if (isCalfLogLevel(level)) ctx.log.level = level;
}

/**
 * Calls `onChange` with the whole configuration after each change the priv commits under
 * /config (a reload's changes are one commit: its events arrive together and are applied once).
 * Without watch rights (an older priv) the calf runs on and takes a reload at its next start.
 */
export async function watchConfig(ctx: CalfContext, keys: ConfigKeys, onChange: (keys: ConfigKeys) => void): Promise<void> {
  let pending = false;
  try {
    await ctx.kv.watch("/config", (e) => {
      keys.set(e.path, e.value ?? undefined);
      if (pending) return;
      pending = true;
      queueMicrotask(() => {
        pending = false;
        onChange(keys);
      });
    });
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "cannot watch /config: a reload reaches this client when it restarts");
  }
}
