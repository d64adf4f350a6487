/**
 * `paddock pack [--out FILE] [--oci-layout DIR]`: the self-contained artefact an image builder
 * installs on a Debian 12 system without Node (docs/pack.md; the work is in ../pack/pack.ts).
 * Build time only: it runs in a checkout after `make setup`, as any user.
 */
import path from "node:path";
import type { Command } from "commander";
import { runningPacked } from "../../../runtime/src/sandbox/packed.ts";
import { UserError } from "../errors.ts";
import { defaultPackName, pack, PackError, packVersion } from "../pack/pack.ts";
import { installRoot } from "../services.ts";

/** Registers `paddock pack`. */
export function registerPack(program: Command): void {
  program
    .command("pack")
    .description(
      "build the artefact an image builder installs on a system without Node: the priv as one executable (Node's single executable application, which its calves run too), the calf bundles, the addon and its eBPF objects, runc and the systemd units in one tar.gz (tar -xzf FILE -C / or usr/lib/paddock/install.sh --root DIR; docs/pack.md). Runs in a checkout after make setup",
    )
    .option("--out <file>", "the tarball to write (default ./paddock-VERSION-linux-x64.tar.gz)")
    .option("--oci-layout <dir>", "also write an OCI image layout holding the tree as one layer")
    .option("--node <path>", "the Node binary to pack (20.12 or later; default the one running)")
    .option("--runc <path>", "the runc to ship", "/usr/sbin/runc")
    .action(async (o: { out?: string; ociLayout?: string; node?: string; runc: string }) => {
      if (runningPacked()) throw new UserError("paddock pack runs in a checkout (make setup; node_modules/.bin/paddock pack), not from a packed Paddock");
      const repoRoot = installRoot();
      const out = path.resolve(o.out ?? defaultPackName(await packVersion(repoRoot)));
      try {
        const r = await pack({
          repoRoot,
          out,
          ...(o.ociLayout !== undefined ? { ociLayout: path.resolve(o.ociLayout) } : {}),
          ...(o.node !== undefined ? { node: o.node } : {}),
          runc: o.runc,
          log: (line) => process.stderr.write(`paddock pack: ${line}\n`),
        });
        const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);
        process.stdout.write(`${r.out}: Paddock ${r.version}, ${mib(r.compressedBytes)} MiB compressed, ${mib(r.installedKiB * 1024)} MiB installed (${r.files.length} files), ${r.sha256}\n`);
      } catch (e) {
        if (e instanceof PackError) throw new UserError(`${e.message} (${e.code})`);
        throw e;
      }
    });
}
