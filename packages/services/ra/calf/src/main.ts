/**
 * The RA client calf (./profile.ts says what it holds): runs the @paddock/ra core on the packet
 * channel — every frame the kernel filter passed goes through the core's RFC 4861 §6.1 checks and
 * bounds — and publishes what the routers said as the schema's keys, one commit per change, with
 * the core's monotonic expiries turned into Unix times.
 */
import { KvError, type CalfContext } from "@paddock/calf";
import { createRaClient, step, type RaClientEvent, type RaClientState, type RaSnapshot } from "@paddock/ra";
import { formatLived, formatPrefix, formatRoute, formatRouter, indexSegment, unixDeadline } from "@paddock/service-ra/wire";

type Changes = Array<{ path: string; value: string | null }>;

async function readOptional(ctx: CalfContext, path: string): Promise<string | undefined> {
  try {
    return await ctx.kv.read(path);
  } catch (err) {
    if (err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND") return undefined;
    throw err;
  }
}

/** A snapshot as the schema's keys (path → value), expiries as Unix seconds at `unixNowMs`. */
export function snapshotKeys(s: RaSnapshot, monoNow: number, unixNowMs: number): Map<string, string> {
  const at = (mono: number) => unixDeadline(mono, monoNow, unixNowMs);
  const out = new Map<string, string>();
  s.routers.forEach((r, i) => out.set(`/router/${indexSegment(i)}`, formatRouter(r.address, r.preference, at(r.expiresAt))));
  s.prefixes.forEach((p, i) =>
    out.set(
      `/prefix/${indexSegment(i)}`,
      formatPrefix({
        prefix: p.prefix,
        prefixLength: p.prefixLength,
        onLinkUntil: p.onLinkUntil === undefined ? undefined : at(p.onLinkUntil),
        validUntil: p.autonomous === undefined ? undefined : at(p.autonomous.validUntil),
        preferredUntil: p.autonomous === undefined ? undefined : at(Math.min(p.autonomous.preferredUntil, p.autonomous.validUntil)),
      }),
    ),
  );
  s.routes.forEach((r, i) => out.set(`/route/${indexSegment(i)}`, formatRoute(r.prefix, r.prefixLength, r.router, r.preference, at(r.expiresAt))));
  s.dnsServers.forEach((d, i) => out.set(`/dns/${indexSegment(i)}`, formatLived(d.address, at(d.expiresAt))));
  s.searchNames.forEach((d, i) => out.set(`/search/${indexSegment(i)}`, formatLived(d.name, at(d.expiresAt))));
  if (s.mtu !== undefined) out.set("/mtu", String(s.mtu));
  out.set("/flags/managed", s.managed ? "true" : "false");
  out.set("/flags/other", s.other ? "true" : "false");
  return out;
}

/**
 * A refreshed expiry moves later by the time between two advertisements. Republishing each move
 * would rewrite the store (and the kernel's lifetimes) every few seconds for nothing, so a later
 * end is published only once it has moved by more than an eighth of what is left (at least
 * REPUBLISH_SLACK_S): a 30-minute router lifetime is renewed in the kernel every few minutes, long
 * before it could run out. An earlier end (a router shortening a lifetime) is published at once.
 */
const REPUBLISH_SLACK_S = 10;

/** Whether `next` says nothing `before` did not, but for ends that moved later by a little. */
export function sameButTime(before: string, next: string, unixNowS: number): boolean {
  const wa = before.split(/[ =]/);
  const wb = next.split(/[ =]/);
  if (wa.length !== wb.length) return false;
  return wa.every((x, i) => {
    const y = wb[i]!;
    if (x === y) return true;
    if (!/^[0-9]{9,}$/.test(x) || !/^[0-9]{9,}$/.test(y)) return false;
    const old = Number(x);
    const moved = Number(y) - old;
    return moved >= -REPUBLISH_SLACK_S && moved <= Math.max(REPUBLISH_SLACK_S, (old - unixNowS) / 8);
  });
}

/** The calf's main: exported for tests that run it over in-memory channels. */
export async function raCalfMain(ctx: CalfContext): Promise<void> {
  const [macText, mtuText, linkLocal, solicit] = await Promise.all([
    readOptional(ctx, "/config/mac"),
    readOptional(ctx, "/config/link-mtu"),
    readOptional(ctx, "/config/link-local"),
    readOptional(ctx, "/config/solicit"),
  ]);
  if (macText === undefined) throw new Error("the priv wrote no /config/mac");
  const created = createRaClient({
    mac: Uint8Array.from(macText.split(":").map((h) => parseInt(h, 16))),
    ...(linkLocal !== undefined ? { linkLocal } : {}),
    linkMtu: Number(mtuText ?? "1500"),
    solicit: solicit !== "false",
    random: (n) => ctx.random(n),
  });
  if (!created.ok) throw new Error(`bad RA client configuration: ${created.error.detail}`);
  let state: RaClientState = created.state;
  const mono = () => Number(ctx.monotonicNs() / 1_000_000n);

  let publishing: Promise<void> = Promise.resolve();
  let published = new Map<string, string>();
  const publish = (snapshot: RaSnapshot) => {
    const next = snapshotKeys(snapshot, mono(), ctx.now());
    const changes: Changes = [];
    for (const [path, value] of next) {
      const before = published.get(path);
      if (before === undefined || !sameButTime(before, value, ctx.now() / 1000)) changes.push({ path, value });
    }
    for (const path of published.keys()) if (!next.has(path)) changes.push({ path, value: null });
    if (changes.length === 0) return;
    for (const c of changes) {
      if (c.value === null) published.delete(c.path);
      else published.set(c.path, c.value);
    }
    published = new Map(published);
    publishing = publishing.then(() => ctx.kv.commit(changes)).catch((err: Error) => ctx.log.warn({ err: err.message }, "could not publish"));
  };

  const run = (event: RaClientEvent) => {
    const r = step(state, event);
    state = r.state;
    for (const a of r.actions) {
      if (a.kind === "send") ctx.data.sendFrame(a.frame);
      else if (a.kind === "timer") ctx.timers.set("ra", ctx.now() + Math.max(0, a.at - mono()), () => run({ kind: "tick", now: mono() }));
      else if (a.kind === "publish") publish(a.snapshot);
      else ctx.log[a.level]({}, a.message);
    }
  };

  ctx.data.onFrame((frame, rxTimeNs) => {
    // The kernel's receive time on the core's monotonic clock: lifetimes count from it.
    const ageMs = Math.max(0, ctx.now() - Number(rxTimeNs / 1_000_000n));
    run({ kind: "frame", bytes: frame, link: "ethernet", receivedAt: mono() - (rxTimeNs > 0n ? ageMs : 0) });
  });
  ctx.data.onLink((link) => run({ kind: "link", up: link.up, carrier: link.carrier, now: mono() }));
  ctx.log.info({ linkLocal: linkLocal ?? "::" }, "RA client started");
  run({ kind: "start", now: mono() });
  ctx.onStop(() => publishing);
}
