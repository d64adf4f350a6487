/**
 * The DHCPv6 client calf (./profile.ts says what it holds): runs the @paddock/dhcp6 core on the
 * IPv6 UDP channel, publishes each lease as one commit, follows the RA's M/O flags in mode auto,
 * and at stop (release-on-stop) sends RELEASE and withdraws the lease.
 */
import { readOptional, type CalfContext } from "@paddock/calf";
import { createDhcp6Client, decodeDuid, duidText, step, type Dhcp6ClientAction, type Dhcp6ClientConfig, type Dhcp6ClientEvent, type Dhcp6ClientState, type Dhcp6Lease } from "@paddock/dhcp6";
import { hexBytes, indexSegment, untilText } from "@paddock/service-dhcp6/wire";

type Changes = Array<{ path: string; value: string | null }>;

/** The schema's bounds (packages/services/dhcp6/service/src/schema.ts). */
const MAX_ADDRESSES = 8;
const MAX_PREFIXES = 4;
const MAX_DNS_SERVERS = 8;
const MAX_DOMAINS = 6;
/** How long a RELEASE at stop may wait for its REPLY before the lease is withdrawn anyway. */
const RELEASE_WAIT_MS = 1500;

/** The mode to run: configured, or from the RA's flags (auto); null: the RA says DHCPv6 is not used. */
export function effectiveMode(mode: string | undefined, managed: string | undefined, other: string | undefined): "stateful" | "stateless" | null {
  if (mode === "stateful" || mode === "stateless") return mode;
  // No RA service in this priv (or no RA yet): stateful, as a client forced on would.
  if (managed === undefined && other === undefined) return "stateful";
  if (managed === "true") return "stateful";
  return other === "true" ? "stateless" : null;
}

/**
 * A lease as its keys, with the lifetimes' ends turned from the core's clock (`mono`, ms) into Unix
 * times (`toUnixMs`); lists cut at the schema's bounds.
 */
export function leaseChanges(lease: Dhcp6Lease, toUnixMs: (mono: number) => number): Map<string, string> {
  const out = new Map<string, string>();
  const until = (t: number | null) => untilText(t === null ? null : toUnixMs(t));
  out.set("/lease/mode", lease.mode);
  out.set("/lease/server", lease.serverAddress);
  out.set("/lease/server-duid", duidText(lease.serverDuid));
  out.set("/lease/obtained", untilText(toUnixMs(lease.obtainedAt)));
  out.set("/lease/renew-at", until(lease.renewAt ?? lease.refreshAt));
  lease.addresses.slice(0, MAX_ADDRESSES).forEach((a, i) => {
    const at = `/address/${indexSegment(i)}`;
    out.set(`${at}/ip`, a.address);
    out.set(`${at}/preferred-until`, until(a.preferredUntil));
    out.set(`${at}/valid-until`, until(a.validUntil));
  });
  lease.prefixes.slice(0, MAX_PREFIXES).forEach((p, i) => {
    const at = `/prefix/${indexSegment(i)}`;
    out.set(`${at}/prefix`, `${p.prefix}/${p.prefixLength}`);
    out.set(`${at}/preferred-until`, until(p.preferredUntil));
    out.set(`${at}/valid-until`, until(p.validUntil));
    if (p.exclude) out.set(`${at}/exclude`, `${p.exclude.prefix}/${p.exclude.prefixLength}`);
  });
  lease.dnsServers.slice(0, MAX_DNS_SERVERS).forEach((d, i) => out.set(`/dns/${indexSegment(i)}`, d));
  lease.domains.slice(0, MAX_DOMAINS).forEach((d, i) => out.set(`/domain/${indexSegment(i)}`, d.replace(/\.$/, "")));
  return out;
}

/** The calf's main: exported for tests that run it over in-memory channels. */
export async function dhcp6CalfMain(ctx: CalfContext): Promise<void> {
  const monoMs = () => Number(ctx.monotonicNs()) / 1e6;
  const toUnixMs = (mono: number) => ctx.now() + (mono - monoMs());
  const random = () => {
    const b = ctx.random(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
  };

  // Commits in order, one at a time; each replaces the whole previous lease.
  let publishing: Promise<void> = Promise.resolve();
  let published = new Map<string, string>();
  const publish = (lease: Dhcp6Lease | null) => {
    const next = lease ? leaseChanges(lease, toUnixMs) : new Map<string, string>();
    const changes: Changes = [];
    for (const [path, value] of next) if (published.get(path) !== value) changes.push({ path, value });
    for (const path of published.keys()) if (!next.has(path)) changes.push({ path, value: null });
    published = next;
    if (changes.length === 0) return;
    publishing = publishing.then(() => ctx.kv.commit(changes)).catch((err: Error) => ctx.log.warn({ err: err.message }, "could not publish the lease"));
  };

  let state: Dhcp6ClientState | undefined;
  const run = (event: Dhcp6ClientEvent) => {
    if (!state) return;
    const r = step(state, event);
    state = r.state;
    for (const a of r.actions) act(a);
  };
  const act = (a: Dhcp6ClientAction) => {
    if (a.kind === "send") ctx.data.sendDatagram(a.bytes, { address: a.to, port: a.port });
    else if (a.kind === "timer") {
      if (a.at === null) ctx.timers.cancel("dhcp6");
      else ctx.timers.set("dhcp6", ctx.now() + Math.max(0, a.at - monoMs()), () => run({ kind: "tick", now: monoMs() }));
    } else if (a.kind === "publish") publish(a.lease);
    else ctx.log[a.level]({}, a.message);
  };

  const config = await Promise.all(["/config/mode", "/config/ia-na", "/config/ia-pd", "/config/rapid-commit", "/config/duid", "/config/iaid", "/config/release-on-stop"].map((p) => readOptional(ctx.kv, p)));
  const [mode, iaNa, iaPd, rapidCommit, duidHex, iaid, releaseOnStop] = config;
  const duidBytes = duidHex === undefined ? undefined : hexBytes(duidHex);
  const duid = duidBytes ? decodeDuid(duidBytes) : undefined;
  if (!duid?.ok || iaid === undefined) throw new Error("the priv wrote no usable /config/duid or /config/iaid");
  const clientConfig = (m: "stateful" | "stateless"): Dhcp6ClientConfig => ({
    mode: m,
    address: iaNa !== "false",
    prefix: iaPd === undefined || iaPd === "off" ? false : iaPd === "0" ? true : { length: Number(iaPd) },
    iaid: Number(iaid),
    duid: { kind: "duid", duid: duid.value },
    rapidCommit: rapidCommit !== "false",
    random,
  });

  let current: "stateful" | "stateless" | null = null;
  let heardRa = false;
  const follow = async () => {
    const [managed, other] = await Promise.all([readOptional(ctx.kv, "/input/ra/flags/managed"), readOptional(ctx.kv, "/input/ra/flags/other")]);
    const next = effectiveMode(mode, managed, other);
    const firstRa = !heardRa && (managed !== undefined || other !== undefined);
    heardRa ||= firstRa;
    if (next === current && state) {
      // The first RA says to ask (as a client started by it would): without a lease, start over at
      // once rather than at the next of the backed-off retransmissions begun before any router spoke.
      if (firstRa && next !== null && !published.has("/lease/mode")) run({ kind: "config", config: clientConfig(next), now: monoMs() });
      return;
    }
    current = next;
    if (next === null) {
      ctx.log.info({ managed, other }, "the router advertises neither M nor O: DHCPv6 is not used on this link");
      if (state) run({ kind: "release", now: monoMs() });
      return;
    }
    if (!state) {
      const created = createDhcp6Client(clientConfig(next));
      if (!created.ok) throw new Error(`bad DHCPv6 client configuration: ${created.error.detail}`);
      state = created.state;
      ctx.log.info({ mode: next }, "DHCPv6 client started");
      run({ kind: "start", now: monoMs() });
    } else {
      ctx.log.info({ mode: next }, "the router advertisement's flags changed the DHCPv6 mode");
      run({ kind: "config", config: clientConfig(next), now: monoMs() });
    }
  };

  ctx.data.onDatagram((bytes, from) => run({ kind: "datagram", bytes, from: from.address, rxTimeMs: monoMs() }));
  let linkUp: boolean | undefined;
  ctx.data.onLink((link) => {
    const up = link.up && link.carrier;
    if (linkUp !== undefined && up !== linkUp) run({ kind: "link", up, now: monoMs() });
    linkUp = up;
  });
  if (mode === "auto") {
    let again = false;
    await ctx.kv.watch("/input/ra/flags", () => {
      // One event per key of a commit: follow once, after them all.
      if (again) return;
      again = true;
      queueMicrotask(() => {
        again = false;
        void follow().catch((err: Error) => ctx.log.warn({ err: err.message }, "could not read the RA's flags"));
      });
    });
  }
  await follow();

  ctx.onStop(async () => {
    if (state && releaseOnStop !== "false" && published.has("/lease/mode")) {
      run({ kind: "release", now: monoMs() });
      // The REPLY to the RELEASE, or the wait's end: the lease is withdrawn either way.
      await new Promise<void>((resolve) => {
        const started = monoMs();
        const check = () => (!published.has("/lease/mode") || monoMs() - started >= RELEASE_WAIT_MS ? resolve() : setTimeout(check, 50));
        check();
      });
      publish(null);
    }
    await publishing;
  });
}
