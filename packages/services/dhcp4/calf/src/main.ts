/**
 * The DHCPv4 client calf. See ./profile.ts for what it holds.
 *
 * It reads its MAC and configuration from the store (written by the priv before it starts), its
 * persisted lease from /state/lease (for INIT-REBOOT), then runs the client until stopped,
 * taking a reload's new /config keys as they come (./config.ts).
 */
import type { CalfContext } from "@paddock/calf";
import { createClient } from "@paddock/dhcp4";
import { applyLogLevel, clientConfigFrom, type ConfigKeys, readConfigKeys, readOptional, watchConfig } from "./config.ts";
import { watchControl } from "./control.ts";
import { DhcpCalfRuntime } from "./runtime.ts";

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
  // Pipelined: one round trip before the first DISCOVER. The watch is asked first, so a reload
  // committed while the reads are answered is not missed.
  let runtime: DhcpCalfRuntime | undefined;
  const watched: ConfigKeys = new Map();
  const [, macText, keys, persistedLease] = await Promise.all([
    watchConfig(ctx, watched, (next) => {
      // A change before the client runs is in `watched`, which it starts from.
      if (!runtime) return;
      applyLogLevel(ctx, next);
      runtime.reconfigure(clientConfigFrom(next, { mac, random }));
    }),
    ctx.kv.read("/mac"),
    readConfigKeys(ctx),
    readOptional(ctx, "/state/lease"),
  ]);
  for (const [k, v] of keys) if (!watched.has(k)) watched.set(k, v);
  applyLogLevel(ctx, watched);
  const mac = parseMac(macText);
  const random = uniformRandom(ctx);
  const created = createClient(clientConfigFrom(watched, { mac, random }), ctx.now(), {
    persistedLease,
    linkUp: ctx.data.link ? ctx.data.link.up && ctx.data.link.carrier : true,
  });
  if (!created.ok) throw new Error(`bad DHCP client configuration: ${created.error.field} ${created.error.detail}`);
  const client = new DhcpCalfRuntime(ctx, created.state, { mac });
  runtime = client;
  client.start(created.actions);
  // The operator's renew and release requests (/control/…), from now on.
  await watchControl(ctx, (event) => client.dispatch(event));
  // On stop: the client's last actions (RELEASE, withdrawing the lease when configured) finish
  // before the calf exits.
  ctx.onStop(() => client.stop());
  ctx.log.info({ mac: mac.length === 6 ? Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":") : "?" }, "DHCP client started");
}
