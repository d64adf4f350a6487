/**
 * What `paddock status` and systemd's STATUS= show of the DHCPv6 service: the lease's addresses
 * and prefixes with their lifetimes' ends, the DNS servers and domains, the downstream /64s.
 */
import type { ReadinessView, ServiceStatusReport } from "@paddock/runtime";

/** `/NAME/NNN/FIELD` keys grouped by NNN, in order. */
function groups(values: ReadonlyMap<string, string>, name: string): Array<Record<string, string>> {
  const byIndex = new Map<string, Record<string, string>>();
  const re = new RegExp(`^/${name}/([0-9]{3})/([a-z-]+)$`);
  for (const [p, v] of values) {
    const m = re.exec(p);
    if (!m) continue;
    const e = byIndex.get(m[1]!) ?? {};
    e[m[2]!] = v;
    byIndex.set(m[1]!, e);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, e]) => e);
}

const list = (values: ReadonlyMap<string, string>, name: string) => [...values].filter(([p]) => new RegExp(`^/${name}/[0-9]{3}$`).test(p)).sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);

/** "in 3600 s" / "infinite" for a lifetime end (Unix seconds) at `now` (ms). */
function left(until: string | undefined, now: number): string {
  if (until === undefined) return "?";
  if (until === "infinite") return "infinite";
  return `${Math.max(0, Math.round(Number(until) - now / 1000))} s`;
}

/** `paddock status`: fields for --json, lines for people. */
export function dhcp6Status(values: ReadonlyMap<string, string>, now: number): ServiceStatusReport {
  const addresses = groups(values, "address");
  const prefixes = groups(values, "prefix");
  const downstream = groups(values, "downstream");
  const dns = list(values, "dns");
  const domains = list(values, "domain");
  const mode = values.get("/lease/mode");
  const lines = [
    `mode: ${values.get("/config/mode") ?? "?"}${mode ? ` (lease: ${mode})` : ", no lease yet"}`,
    ...(values.has("/lease/server") ? [`server: ${values.get("/lease/server")} (DUID ${values.get("/lease/server-duid") ?? "?"})`] : []),
    ...addresses.map((a) => `address ${a.ip ?? "?"}/128: valid ${left(a["valid-until"], now)}, preferred ${left(a["preferred-until"], now)}`),
    ...prefixes.map((p) => `prefix ${p.prefix ?? "?"}: valid ${left(p["valid-until"], now)}, preferred ${left(p["preferred-until"], now)}${p.exclude ? `, excluded ${p.exclude}` : ""}`),
    ...downstream.map((d) => `downstream ${d.iface ?? "?"}: ${d.prefix ?? "?"}`),
    ...(dns.length ? [`dns: ${dns.join(" ")}`] : []),
    ...(domains.length ? [`domains: ${domains.join(" ")}`] : []),
  ];
  return {
    fields: { mode: values.get("/config/mode") ?? null, lease: mode ?? null, server: values.get("/lease/server") ?? null, addresses, prefixes, downstream, dns, domains },
    lines,
  };
}

/** Ready once a lease (stateful or stateless) is published and its handler applied it. */
export function dhcp6Readiness(view: ReadinessView): { ready: boolean; status: string } {
  const mode = view.store.get("/lease/mode");
  if (!mode) return { ready: false, status: "dhcp6: soliciting" };
  const handler = view.handlers.find((h) => h.name === "lease6");
  const address = view.store.get("/address/000/ip");
  const prefix = view.store.get("/prefix/000/prefix");
  const what = [address, prefix].filter(Boolean).join(", ") || "information only";
  return { ready: handler !== undefined && handler.state === "converged", status: `dhcp6: ${mode}, ${what}` };
}
