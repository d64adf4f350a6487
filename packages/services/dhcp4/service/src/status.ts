/**
 * What the DHCPv4 service tells operators, from its store (the keys of ./schema.ts) and its
 * handlers' states:
 *
 * - `dhcp4Readiness`: ready (systemd READY=1) once a lease's address is published and the lease
 *   handler has applied it; the STATUS= line ("bound 10.0.0.5/24 from 10.0.0.1, renews in 30 min").
 * - `dhcp4Status`: the fields `paddock status` prints and its `--json` carries under "status"
 *   (docs/operations.md lists them; they are only ever added to).
 */
import type { ReadinessView, ServiceReadiness, ServiceStatusReport } from "@paddock/runtime";

/** "42 s", "30 min", "5 h 20 min", "3 d 4 h": a duration for one line, rounded down. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.floor(s / 60)} min`;
  if (s < 48 * 3600) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
  }
  const h = Math.floor((s % 86400) / 3600);
  return `${Math.floor(s / 86400)} d${h ? ` ${h} h` : ""}`;
}

/** A Unix-seconds key as a number; undefined when absent or not a number. */
function seconds(values: ReadonlyMap<string, string> | { get(p: string): string | undefined }, path: string): number | undefined {
  const v = values.get(path);
  if (v === undefined || !/^[0-9]+$/.test(v)) return undefined;
  return Number(v);
}

/** The indexed keys under a prefix (/nameserver/001, /nameserver/002 …), in order. */
function listed(values: ReadonlyMap<string, string>, prefix: string): string[] {
  return [...values.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => values.get(k)!);
}

/** Readiness and the STATUS= line. */
export function dhcp4Readiness(view: ReadinessView): ServiceReadiness {
  const get = (p: string) => view.store.get(p);
  const state = get("/client/state");
  const ip = get("/ip");
  const lease = view.handlers.find((h) => h.name === "lease");
  const applied = ip !== undefined && (lease === undefined || lease.state === "converged");
  if (ip === undefined) {
    if (state === "RELEASED") return { ready: false, status: "released; idle until paddock renew" };
    // RFC 8925: the network said it prefers IPv6-only, and this host agreed to go without IPv4;
    // DHCPv4 has done what it can, so waiting for a lease would only hold up the boot.
    if (state === "IPV6-ONLY") return { ready: true, status: ipv6OnlyLine(seconds({ get }, "/client/ipv6-only-until"), view.now / 1000) };
    return { ready: false, status: `${(state ?? "starting").toLowerCase()}, no lease yet` };
  }
  const server = get("/lease/server");
  const from = server ? ` from ${server}` : "";
  if (!applied) {
    const why = lease?.state === "failing" && lease.desired !== undefined ? `, not applied yet` : ", applying";
    return { ready: false, status: `${(state ?? "bound").toLowerCase()} ${ip}${from}${why}` };
  }
  const nowS = view.now / 1000;
  const renew = seconds({ get }, "/lease/renew");
  const expires = seconds({ get }, "/lease/expires");
  let when = "";
  if (expires === 0) when = ", infinite lease";
  else if (renew !== undefined && renew > nowS) when = `, renews in ${humanDuration(renew - nowS)}`;
  else if (expires !== undefined) when = `, expires in ${humanDuration(expires - nowS)}`;
  return { ready: true, status: `${(state ?? "bound").toLowerCase()} ${ip}${from}${when}` };
}

/** "IPv6-only (RFC 8925): no IPv4 address; DHCPv4 again in 30 min": the state IPV6-ONLY for one line. */
function ipv6OnlyLine(until: number | undefined, nowS: number): string {
  const again = until === undefined ? "" : `; DHCPv4 again in ${humanDuration(until - nowS)}`;
  return `IPv6-only (RFC 8925): no IPv4 address${again}`;
}

/** The service's part of `paddock status`, from its store's values (as `paddock kv ls` gives them). */
export function dhcp4Status(values: ReadonlyMap<string, string>, now: number): ServiceStatusReport {
  const nowS = Math.floor(now / 1000);
  const state = values.get("/client/state") ?? null;
  const address = values.get("/ip") ?? null;
  const routes = listed(values, "/route/").map((r) => {
    const [destination, router] = r.split(" ");
    return { destination: destination ?? r, router: router ?? "" };
  });
  const fields = {
    state,
    address,
    server: values.get("/lease/server") ?? null,
    obtained: seconds(values, "/lease/obtained") ?? null,
    expires: seconds(values, "/lease/expires") ?? null,
    renew: seconds(values, "/lease/renew") ?? null,
    rebind: seconds(values, "/lease/rebind") ?? null,
    gateway: values.get("/gateway") ?? null,
    routes,
    dns: listed(values, "/nameserver/"),
    domain: values.get("/domain") ?? null,
    search: values.get("/search")?.split(" ") ?? [],
    mtu: values.has("/mtu") ? Number(values.get("/mtu")) : null,
    ntp: listed(values, "/ntp/"),
    hostname: values.get("/hostname") ?? null,
    ipv6OnlyUntil: state === "IPV6-ONLY" ? (seconds(values, "/client/ipv6-only-until") ?? null) : null,
  };
  const at = (t: number | null, what: string): string | undefined => {
    if (t === null) return undefined;
    if (t === 0) return `${what}: never`;
    const rel = t >= nowS ? `in ${humanDuration(t - nowS)}` : `${humanDuration(nowS - t)} ago`;
    return `${what}: ${new Date(t * 1000).toISOString().replace(".000Z", "Z")} (${rel})`;
  };
  const lines = [
    `state: ${state ?? "unknown"}`,
    address ? `address: ${address}${fields.server ? ` from ${fields.server}` : ""}` : state === "IPV6-ONLY" ? "address: none (the network prefers IPv6-only, RFC 8925)" : "address: none (no lease)",
    at(fields.ipv6OnlyUntil, "DHCPv4 again"),
    at(fields.obtained, "obtained"),
    at(fields.renew, "renews (T1)"),
    at(fields.rebind, "rebinds (T2)"),
    at(fields.expires, "expires"),
    fields.gateway ? `gateway: ${fields.gateway}` : undefined,
    ...routes.map((r) => `route: ${r.destination} via ${r.router === "0.0.0.0" ? "on-link" : r.router}`),
    fields.dns.length ? `dns: ${fields.dns.join(" ")}` : undefined,
    fields.domain ? `domain: ${fields.domain}` : undefined,
    fields.search.length ? `search: ${fields.search.join(" ")}` : undefined,
    fields.mtu !== null ? `mtu: ${fields.mtu}` : undefined,
    fields.ntp.length ? `ntp: ${fields.ntp.join(" ")}` : undefined,
    fields.hostname ? `hostname: ${fields.hostname}` : undefined,
  ].filter((l): l is string => l !== undefined);
  return { fields, lines };
}
