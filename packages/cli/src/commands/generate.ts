/**
 * `paddock generate DEPLOYMENT --out DIR [--variant NAME]`: the deployment file → calf bundles,
 * the priv's systemd unit(s), a LinuxKit fragment and a check report (../generate/index.ts).
 * Module services are built first (unprivileged when run as root, as `paddock run` does).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { cannotRead, UserError } from "../errors.ts";
import { deploymentModules, MAX_DEPLOYMENT_BYTES, parseDeployment, type Deployment } from "../generate/deployment.ts";
import { generateDeployment, renderReport, type ResolvedService } from "../generate/index.ts";
import { BUILTIN_SERVICES, loadService, type LoadedService } from "../services.ts";

/** A deployment read and validated, its module services built; `cleanup` removes the builds. */
export interface LoadedDeployment {
  readonly deployment: Deployment;
  readonly services: readonly ResolvedService[];
  cleanup(): void;
}

/** Reads, builds and validates a deployment file with `variant` applied. Throws UserError (DeploymentError). */
export async function loadDeployment(file: string, variant: string | undefined): Promise<LoadedDeployment> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_DEPLOYMENT_BYTES) throw new UserError(`the deployment file ${file} is larger than ${MAX_DEPLOYMENT_BYTES} bytes`);
    text = bytes.toString("utf8");
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(cannotRead(file, err));
  }
  const modules = new Map<string, LoadedService & { cleanup(): void }>();
  const cleanup = () => {
    for (const m of modules.values()) m.cleanup();
  };
  try {
    for (const m of deploymentModules(text, file)) {
      if (!modules.has(m.module)) modules.set(m.module, await loadService(m.module));
    }
    const deployment = parseDeployment(text, file, ({ name, module }) => (module ? modules.get(module)?.definition : BUILTIN_SERVICES[name]), variant);
    const services = deployment.services.map((s): ResolvedService => {
      const loaded = s.module ? modules.get(s.module)! : undefined;
      return { ...s, definition: loaded?.definition ?? BUILTIN_SERVICES[s.name]!, builtDir: loaded ? path.dirname(loaded.calfScript) : undefined };
    });
    return { deployment, services, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("from a deployment file (services, interfaces, options, variants): an OCI bundle per calf, the priv's hardened systemd unit, a LinuxKit fragment and a check report (docs/generate.md)")
    .argument("<deployment>", "the deployment file (YAML)")
    .requiredOption("--out <dir>", "the output directory (new, empty, or a previous output, which is replaced)")
    .option("--variant <name>", "apply this variant of the file (e.g. debug or release)")
    .option("--no-systemd-analyze", "do not run systemd-analyze verify and security on the units (their checks are reported skipped)")
    .option("--json", "print the report as JSON instead of text")
    .action(async (file: string, opts: { out: string; variant?: string; systemdAnalyze: boolean; json?: boolean }) => {
      const loaded = await loadDeployment(file, opts.variant);
      try {
        const report = await generateDeployment(loaded.deployment, loaded.services, opts.out, { systemdAnalyze: opts.systemdAnalyze });
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
        if (report.failed > 0) throw new UserError(`${report.failed} check${report.failed === 1 ? "" : "s"} failed (listed above as FAIL, and in ${path.join(report.outDir, "check-report.txt")})`);
      } finally {
        loaded.cleanup();
      }
    });
}
