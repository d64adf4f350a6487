/**
 * `paddock pack [--out FILE] [--oci-layout DIR]`: the self-contained artefact an image builder
 * installs on a Debian 12 system without Node (docs/pack.md; the work is in ../pack/pack.ts).
 * Build time only: it runs in a checkout after `make setup`, as any user.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { resolveNodeRuntime, runningPacked } from "@paddock/runtime";
import { UserError } from "../errors.ts";
import { generateDeployment } from "../generate/index.ts";
import { defaultPackName, pack, PACKED_INSTALL, PackError, packVersion } from "../pack/pack.ts";
import { installRoot } from "../services.ts";
import { loadDeployment } from "./generate.ts";

/**
 * `paddock generate` for the packed tree: the deployment's own paths, except where Paddock's
 * files are (PACKED_INSTALL); the calves run the packed binary, which has `node`'s libraries.
 */
async function generateForPack(file: string, variant: string | undefined, node: string, out: string): Promise<void> {
  const loaded = await loadDeployment(file, variant);
  try {
    const deployment = { ...loaded.deployment, install: { ...loaded.deployment.install, ...PACKED_INSTALL } };
    const { libraries } = await resolveNodeRuntime(node);
    const report = await generateDeployment(deployment, loaded.services, out, { nodeRuntime: { binary: PACKED_INSTALL.node, libraries, packed: true } });
    const failed = report.checks.filter((c) => c.status === "fail").map((c) => `${c.subject}: ${c.rule}${c.detail ? ` (${c.detail})` : ""}`);
    if (failed.length > 0) throw new UserError(`the deployment ${file} fails ${failed.length === 1 ? "a check" : `${failed.length} checks`} of paddock generate, so it is not packed: ${failed.join("; ")}`);
  } finally {
    loaded.cleanup();
  }
}

/** Registers `paddock pack`. */
export function registerPack(program: Command): void {
  program
    .command("pack")
    .summary("build one tar.gz that installs and runs on a system without Node (docs/pack.md)")
    .description(
      "build the artefact an image builder installs on a system without Node: the priv as one executable (Node's single executable application, which its calves run too), the calf bundles, the addon and its eBPF objects, runc and the systemd units in one tar.gz (tar -xzf FILE -C / or usr/lib/paddock/install.sh --root DIR; docs/pack.md). Runs in a checkout after make setup",
    )
    .option("--out <file>", "the tarball to write (default ./paddock-VERSION-linux-x64.tar.gz)")
    .option("--oci-layout <dir>", "also write an OCI image layout holding the tree as one layer (DIR new or empty)")
    .option("--deployment <file>", "ship what paddock generate makes of this deployment file (bundles, units, configuration) instead of the example units")
    .option("--variant <name>", "with --deployment: apply this variant of the file")
    .option("--node <path>", "the Node binary to pack (20.12 or later; default the one running)")
    .option("--runc <path>", "the runc to ship", "/usr/sbin/runc")
    .action(async (o: { out?: string; ociLayout?: string; deployment?: string; variant?: string; node?: string; runc: string }) => {
      if (runningPacked()) throw new UserError("paddock pack runs in a checkout (make setup; node_modules/.bin/paddock pack), not from a packed Paddock");
      if (o.variant !== undefined && o.deployment === undefined) throw new UserError("--variant applies to a deployment file: add --deployment FILE");
      const repoRoot = installRoot();
      const out = path.resolve(o.out ?? defaultPackName(await packVersion(repoRoot)));
      const node = o.node ?? process.execPath;
      const scratch = await mkdtemp(path.join(os.tmpdir(), "paddock-pack-generate-"));
      try {
        const generated = o.deployment !== undefined ? path.join(scratch, "generated") : undefined;
        if (generated !== undefined) await generateForPack(o.deployment!, o.variant, node, generated);
        const r = await pack({
          repoRoot,
          out,
          node,
          runc: o.runc,
          ...(o.ociLayout !== undefined ? { ociLayout: path.resolve(o.ociLayout) } : {}),
          ...(generated !== undefined ? { generated } : {}),
          log: (line) => process.stderr.write(`paddock pack: ${line}\n`),
        });
        const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);
        process.stdout.write(`${r.out}: Paddock ${r.version}, ${mib(r.compressedBytes)} MiB compressed, ${mib(r.installedKiB * 1024)} MiB installed (${r.files.length} files), ${r.sha256}\n`);
      } catch (e) {
        if (e instanceof PackError) throw new UserError(`${e.message} (${e.code})`);
        throw e;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
}
