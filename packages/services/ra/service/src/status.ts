/**
 * What `paddock status` and systemd's STATUS= show of the RA service: the routers, prefixes,
 * routes, DNS, MTU and M/O flags the calf published, and what the SLAAC handler applied.
 */
import type { ReadinessView, ServiceStatusReport } from "@paddock/runtime";

function list(values: ReadonlyMap<string, string>, prefix: string): string[] {
  return [...values.entries()].filter(([p]) => p.startsWith(prefix)).sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
}

/** `paddock status`: fields for --json, lines for people. */
export function raStatus(values: ReadonlyMap<string, string>): ServiceStatusReport {
  const routers = list(values, "/router/");
  const prefixes = list(values, "/prefix/");
  const routes = list(values, "/route/");
  const dns = list(values, "/dns/");
  const search = list(values, "/search/");
  const flags = { managed: values.get("/flags/managed") === "true", other: values.get("/flags/other") === "true" };
  return {
    fields: { routers, prefixes, routes, dns, search, mtu: values.get("/mtu") ?? null, ...flags },
    lines: [
      routers.length === 0 ? "routers: none heard" : `routers: ${routers.join("; ")}`,
      ...prefixes.map((p) => `prefix ${p}`),
      ...routes.map((r) => `route ${r}`),
      ...(dns.length > 0 ? [`dns: ${dns.join("; ")}`] : []),
      ...(search.length > 0 ? [`search: ${search.join("; ")}`] : []),
      ...(values.has("/mtu") ? [`mtu: ${values.get("/mtu")}`] : []),
      `flags: M ${flags.managed ? 1 : 0}, O ${flags.other ? 1 : 0}`,
    ],
  };
}

/** Ready once a router's advertisement has been applied (its handler converged on it). */
export function raReadiness(view: ReadinessView): { ready: boolean; status: string } {
  const routers = [...view.store.parsed.keys()].filter((p) => p.startsWith("/router/") || p.startsWith("/prefix/")).length;
  const slaac = view.handlers.find((h) => h.name === "slaac");
  if (routers === 0) return { ready: false, status: "ra: soliciting routers" };
  if (slaac?.state !== "converged") return { ready: false, status: "ra: applying what the routers said" };
  return { ready: true, status: `ra: ${slaac.desired ?? "configured"}` };
}
