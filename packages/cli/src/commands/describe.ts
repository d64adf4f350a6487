/**
 * `paddock describe SERVICE`: what a service definition declares, read from the definition
 * itself — its options (for `paddock run --set`), channels and egress, KV keys, calf limits and
 * inputs — so an operator can see what a service may do before running it.
 */
import type { Command } from "commander";
import { DEFAULT_CALF_ENGINE, type OptionDefinition, type ServiceDefinition } from "@paddock/runtime";
import { loadService } from "../services.ts";

/** The definition as readable text (one section per declaration). */
export function describeService(def: ServiceDefinition<any>): string {
  // A description may start with the name already (the schema's "ra: an IPv6 …"): not twice.
  const description = def.description.startsWith(`${def.name}: `) ? def.description.slice(def.name.length + 2) : def.description;
  const lines: string[] = [`${def.name}: ${description}`, ""];
  const options = Object.entries(def.options ?? {});
  lines.push("options (paddock run … --set NAME=VALUE, or per interface in the configuration file; live: a reload changes it without a restart):");
  if (options.length === 0) lines.push("  none");
  for (const [name, o] of options as Array<[string, OptionDefinition]>) {
    lines.push(`  ${name} (${o.kind}${o.default !== undefined ? `, default ${JSON.stringify(o.default)}` : ""}${o.live ? ", live" : ""}): ${o.description}`);
  }
  lines.push("", "channels:");
  const p = def.channels.packet;
  if (p) {
    lines.push(`  packet: receives ${JSON.stringify(p.receive)}; frames ≤ ${p.maxFrameBytes} bytes`);
    for (const r of p.egress) lines.push(`    may send ${JSON.stringify(r)}`);
    if (p.egress.length === 0) lines.push("    may send nothing");
  }
  const u = def.channels.udp;
  if (u) lines.push(`  udp: local port ${u.localPort || "any"}, may send to port ${u.remotePort} of its peers, datagrams ≤ ${u.maxDatagramBytes} bytes`);
  const c = def.calf;
  const rate = `${c.sendRate.perSecond}/s, burst ${c.sendRate.burst}${c.sendRate.bytesPerSecond ? `, ${c.sendRate.bytesPerSecond} bytes/s` : ""}`;
  lines.push("", `calf: ${c.entry} on ${c.engine === "quickjs" ? "quickjs (node where its QuickJS executable is not built, or with --calf-engine node)" : (c.engine ?? DEFAULT_CALF_ENGINE)}; memory ${c.memoryMiB} MiB, ${c.pids} pids, ${c.cpuCores ?? 1} core(s), sends ${rate}`);
  lines.push("", `store (at most ${def.schema.maxTotalBytes} bytes):`);
  for (const e of def.schema.entries) {
    const who = e.writer === "priv" ? "priv writes" : e.calfReads ? "calf writes, reads" : "calf writes";
    lines.push(`  ${e.pattern} (${who}; ≤ ${e.maxBytes} bytes${e.maxKeys ? `, ≤ ${e.maxKeys} keys` : ""}): ${e.description}`);
  }
  for (const i of def.inputs ?? []) lines.push("", `reads from ${i.service}: ${i.keys.join(", ")} (under /input/${i.service}/…)`);
  return lines.join("\n") + "\n";
}

export function registerDescribe(program: Command): void {
  program
    .command("describe")
    .description("show what a service declares: its options, channels and egress, store keys, calf limits")
    .argument("<service>", "a built-in name (dhcp4) or a service module")
    .action(async (spec: string) => {
      const loaded = await loadService(spec);
      try {
        process.stdout.write(describeService(loaded.definition));
      } finally {
        loaded.cleanup();
      }
    });
}
