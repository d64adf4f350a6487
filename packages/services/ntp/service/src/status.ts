/**
 * What `paddock status` and systemd's STATUS= show of the NTP service: each source's state and
 * offset, and what the clock handler did last.
 */
import type { ReadinessView, ServiceStatusReport } from "@paddock/runtime";

/** Sources as `paddock status` lists them, from the store's text values. */
function sources(values: ReadonlyMap<string, string>): Array<Record<string, string>> {
  const byIndex = new Map<string, Record<string, string>>();
  for (const [path, value] of values) {
    const m = /^\/source\/([0-9]{3})\/([a-z]+)$/.exec(path);
    if (!m) continue;
    const entry = byIndex.get(m[1]!) ?? {};
    entry[m[2]!] = value;
    byIndex.set(m[1]!, entry);
  }
  return [...byIndex.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, e]) => e);
}

/** `paddock status`: fields for --json, lines for people. */
export function ntpStatus(values: ReadonlyMap<string, string>): ServiceStatusReport {
  const list = sources(values);
  const applied = values.get("/clock/applied/result");
  const lines = [
    `clock: ${values.get("/config/clock") ?? "?"}`,
    ...list.map((s) => `source ${s.address ?? "?"}: ${s.state ?? "?"}, reach ${Number(s.reach ?? 0).toString(8)}, offset ${s.offset ?? "-"} s, delay ${s.delay ?? "-"} s, jitter ${s.jitter ?? "-"} s, poll ${s.poll ?? "-"} s`),
    values.has("/adjustment/offset") ? `adjustment: offset ${values.get("/adjustment/offset")} s, frequency ${values.get("/adjustment/frequency")} ppm${values.get("/adjustment/step") === "true" ? ", step asked" : ""}, max error ${values.get("/adjustment/max-error")} s` : "adjustment: none yet",
    ...(applied ? [`handler: ${applied}${values.get("/clock/applied/code") !== "none" ? ` (${values.get("/clock/applied/code")})` : ""}, removed ${values.get("/clock/applied/offset")} s`] : []),
  ];
  return {
    fields: {
      clock: values.get("/config/clock") ?? null,
      sources: list,
      adjustment: values.has("/adjustment/offset") ? { offset: values.get("/adjustment/offset"), frequency: values.get("/adjustment/frequency"), step: values.get("/adjustment/step") === "true", maxError: values.get("/adjustment/max-error"), estError: values.get("/adjustment/est-error"), leap: values.get("/adjustment/leap") } : null,
      applied: applied ? { result: applied, offset: values.get("/clock/applied/offset"), frequency: values.get("/clock/applied/frequency"), code: values.get("/clock/applied/code") } : null,
    },
    lines,
  };
}

/** Ready once the clock handler acted on a first adjustment (or observed it). */
export function ntpReadiness(view: ReadinessView): { ready: boolean; status: string } {
  const result = view.store.get("/clock/applied/result");
  const selected = [...view.store.parsed.entries()].find(([p, v]) => p.endsWith("/state") && p.startsWith("/source/") && v === "selected");
  const peer = selected ? view.store.get(selected[0].replace(/state$/, "address")) : undefined;
  if (!result) return { ready: false, status: "ntp: measuring (start burst)" };
  return { ready: true, status: `ntp: ${result}${peer ? `, system peer ${peer}` : ""}, offset ${view.store.get("/adjustment/offset") ?? "?"} s` };
}
