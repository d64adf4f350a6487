/**
 * The DHCPv4 client calf. See ./profile.ts for what it holds.
 *
 * It reads its MAC and configuration from the store (written by the priv before it starts), its
 * persisted lease from /state/lease (for INIT-REBOOT), then runs the client until stopped.
 */
import { type CalfContext, isCalfLogLevel, KvError } from "@paddock/calf";
import { createClient } from "@paddock/dhcp4";
import { DhcpCalfRuntime } from "./runtime.ts";

/** Reads a key; undefined when it is not set. */
async function readOptional(ctx: CalfContext, path: string): Promise<string | undefined> {
  try {
    return await ctx.kv.read(path);
  } catch (err) {
    if (err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND") return undefined;
    throw err;
  }
}

function parseMac(text: string): Uint8Array {
  return new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
}

/** Uniform [0, 1) from the kernel's CSPRNG (through the host): xids must not be predictable by an off-path attacker. */
function uniformRandom(ctx: CalfContext): () => number {
  return () => {
    const b = ctx.random(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
  };
}

/** The calf's main: exported for tests that run it over in-memory channels. */
export async function dhcp4CalfMain(ctx: CalfContext): Promise<void> {
  // Pipelined: one round trip instead of four before the first DISCOVER.
  const [macText, clientIdHex, hostname, release, persistedLease, logLevel, minLease] = await Promise.all([
    ctx.kv.read("/mac"),
    readOptional(ctx, "/config/client-id"),
    readOptional(ctx, "/config/hostname"),
    readOptional(ctx, "/config/release-on-stop"),
    readOptional(ctx, "/state/lease"),
    readOptional(ctx, "/config/log-level"),
    readOptional(ctx, "/config/min-lease"),
  ]);
  if (isCalfLogLevel(logLevel)) ctx.log.level = logLevel;
  const mac = parseMac(macText);
  const releaseOnStop = release === "true";
  const created = createClient(
    {
      mac,
      random: uniformRandom(ctx),
      releaseOnStop,
      ...(hostname ? { hostname } : {}),
      ...(minLease ? { minLeaseSeconds: Number(minLease) } : {}),
      // The priv fixes the client identifier (and its egress check refuses any other).
      ...(clientIdHex ? { clientId: { kind: "raw" as const, data: Uint8Array.from(clientIdHex.match(/../g) ?? [], (h) => parseInt(h, 16)) } } : {}),
    },
    ctx.now(),
    { persistedLease, linkUp: ctx.data.link ? ctx.data.link.up && ctx.data.link.carrier : true },
  );
  if (!created.ok) throw new Error(`bad DHCP client configuration: ${created.error.field} ${created.error.detail}`);
  const runtime = new DhcpCalfRuntime(ctx, created.state, { mac });
  runtime.start(created.actions);
  // On stop: the client's last actions (RELEASE, withdrawing the lease when configured) finish
  // before the calf exits.
  ctx.onStop(() => runtime.stop());
  ctx.log.info({ mac: mac.length === 6 ? Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":") : "?" }, "DHCP client started");
}
