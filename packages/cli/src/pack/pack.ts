/**
 * `paddock pack`: the one artefact an image builder drops into a root filesystem (docs/pack.md).
 * A build-time tool, run in a checkout after `make setup`: it takes the built calves, the native
 * addon and its eBPF objects from the checkout, bundles the CLI afresh as CommonJS (the form a
 * single executable application runs), injects it into a copy of Node with postject, and writes
 * one gzipped tar of this tree (every path under /usr, so `tar -xzf … -C /` never replaces the
 * /lib → usr/lib link of a merged-/usr system):
 *
 *   usr/lib/paddock/paddock            Node with the CLI injected (the priv; its calves run it too)
 *   usr/lib/paddock/native/            paddock_native.node (RUNPATH $ORIGIN/../lib), *.bpf.o
 *   usr/lib/paddock/lib/               libbpf.so.1, libelf.so.1 (not on a minimal Debian 12)
 *   usr/lib/paddock/calves/            calf-SERVICE.mjs, one per built-in service
 *   usr/lib/paddock/bin/runc           the host's runc (needs libseccomp.so.2)
 *   usr/lib/paddock/paddock-calf-launch  static; what a calf's own unit runs (calf-launch: external)
 *   usr/lib/sysusers.d/paddock.conf    the calves' user, when the deployment's calves are external
 *   usr/lib/paddock/install.sh         `install.sh --root DIR`: the same tree into an image root
 *   usr/sbin/paddock                   → ../lib/paddock/paddock
 *   usr/lib/systemd/system/            the units (the example ones, or those generated)
 *   usr/share/doc/paddock/             README.md, pack.md
 *
 * With a deployment (`--deployment FILE`, what `paddock generate` makes of it, the calves' bundles
 * naming the packed binary): usr/lib/paddock/bundles/ and services/, its units instead of the
 * example ones, etc/paddock/ (its configuration files) and usr/share/doc/paddock/deployment/ (its
 * LinuxKit fragment and check report).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";

const execFileP = promisify(execFile);

/** What went wrong, one code per cause a user can fix. */
export type PackErrorCode =
  | "PADDOCK_E_PACK_MISSING_INPUT" // a file the checkout should hold is not built
  | "PADDOCK_E_PACK_TOOL" // a build tool (patchelf, tar, postject, esbuild) is missing or failed
  | "PADDOCK_E_PACK_NODE" // the Node binary cannot become a single executable
  | "PADDOCK_E_PACK_OUTPUT"; // the tarball or the OCI layout cannot be written

/** A pack that failed; its message is one sentence saying what to do. */
export class PackError extends Error {
  override readonly name = "PackError";
  constructor(
    readonly code: PackErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where everything goes, relative to the root of the target filesystem. */
export const PACK_LAYOUT = {
  prefix: "usr/lib/paddock",
  binary: "usr/lib/paddock/paddock",
  native: "usr/lib/paddock/native",
  lib: "usr/lib/paddock/lib",
  calves: "usr/lib/paddock/calves",
  runc: "usr/lib/paddock/bin/runc",
  /** paddock-calf-launch: what a calf's own unit runs (calf-launch: external, docs/decisions/0013-external-calves.md). */
  launcher: "usr/lib/paddock/paddock-calf-launch",
  sysusers: "usr/lib/sysusers.d/paddock.conf",
  installer: "usr/lib/paddock/install.sh",
  command: "usr/sbin/paddock",
  units: "usr/lib/systemd/system",
  doc: "usr/share/doc/paddock",
  bundles: "usr/lib/paddock/bundles",
  services: "usr/lib/paddock/services",
  config: "etc/paddock",
} as const;

/** The install paths a deployment is generated with for the packed tree (the rest: the file's). */
export const PACKED_INSTALL = {
  paddock: `/${PACK_LAYOUT.command}`,
  node: `/${PACK_LAYOUT.binary}`,
  calfDir: `/${PACK_LAYOUT.calves}`,
  bundleDir: `/${PACK_LAYOUT.bundles}`,
  serviceDir: `/${PACK_LAYOUT.services}`,
  launcher: `/${PACK_LAYOUT.launcher}`,
} as const;

/**
 * Libraries of the addon shipped beside it: libbpf1 and libelf1 are not part of a minimal Debian
 * 12. What else the binaries need (libc6, libstdc++6, libgcc-s1, zlib1g, libseccomp2) every
 * Debian 12 with apt has, since apt itself links them; install.sh checks they are there.
 */
export const SHIPPED_LIBRARIES = ["libbpf.so.1", "libelf.so.1"] as const;

/**
 * The resource name and fuse Node looks for in a single executable application (Node's docs).
 * The fuse is spelt in two parts: this module is in the injected CLI, and postject refuses a
 * binary in which the whole string appears twice.
 */
const SEA_RESOURCE = "NODE_SEA_BLOB";
const SEA_FUSE = ["NODE_SEA_FUSE", "fce680ab2cc467b6e072b8b5df1996b2"].join("_");

/** The oldest Node whose single executables can import() a file (calf mode needs it): 20.12. */
const MIN_NODE = [20, 12] as const;

/** What `pack` needs. */
export interface PackOptions {
  /** The checkout: sources, built calves (packages/services/…/calf/dist), native/build/Release. */
  readonly repoRoot: string;
  /** The tarball to write. */
  readonly out: string;
  /** Also write an OCI image layout holding the tree as one layer. */
  readonly ociLayout?: string;
  /** The Node binary packed (default: the one running). */
  readonly node?: string;
  /** The runc shipped (default /usr/sbin/runc). */
  readonly runc?: string;
  /**
   * A `paddock generate` output made with PACKED_INSTALL (see generateForPack): its bundles,
   * services, units and configuration files are shipped, its units instead of the example ones.
   */
  readonly generated?: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/** One shipped file and its size. */
export interface PackedFile {
  readonly path: string;
  readonly bytes: number;
}

/** What was written, with the figures docs/pack.md reports. */
export interface PackResult {
  readonly out: string;
  readonly version: string;
  readonly files: readonly PackedFile[];
  /** Size of the .tar.gz. */
  readonly compressedBytes: number;
  /** Installed size the way dpkg counts it: each file's size rounded up to KiB, summed. */
  readonly installedKiB: number;
  /** sha256 of the .tar.gz and of the tar inside it (the OCI layer's digest and diff id). */
  readonly sha256: string;
  readonly diffId: string;
}

/** The version of the CLI, which names the artefact. */
export async function packVersion(repoRoot: string): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(repoRoot, "packages/cli/package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** The artefact's conventional file name. */
export function defaultPackName(version: string): string {
  return `paddock-${version}-linux-x64.tar.gz`;
}

/** Builds the artefact; the staging directory is removed whatever happens. */
export async function pack(opts: PackOptions): Promise<PackResult> {
  const log = opts.log ?? (() => {});
  const repo = opts.repoRoot;
  const version = await packVersion(repo);
  const node = opts.node ?? process.execPath;
  await checkNode(node);
  if (opts.ociLayout !== undefined) await checkOciLayoutDir(opts.ociLayout);
  const inputs = await findInputs(repo, opts.runc ?? "/usr/sbin/runc");
  for (const tool of ["patchelf", "strip", "tar", "ldd"]) await requireTool(tool);
  const stage = await mkdtemp(path.join(os.tmpdir(), "paddock-pack-"));
  try {
    const tree = path.join(stage, "root");
    const dirOf = (rel: string): string => path.join(tree, rel);
    for (const d of [PACK_LAYOUT.native, PACK_LAYOUT.lib, PACK_LAYOUT.calves, path.dirname(PACK_LAYOUT.runc), path.dirname(PACK_LAYOUT.command), PACK_LAYOUT.units, PACK_LAYOUT.doc]) {
      await mkdir(dirOf(d), { recursive: true, mode: 0o755 });
    }

    log("bundling the CLI as the single executable's main script");
    const main = path.join(stage, "sea-main.cjs");
    await bundleSeaMain(repo, main);
    log(`injecting it into a copy of ${node}`);
    await buildSingleExecutable(node, main, stage, dirOf(PACK_LAYOUT.binary));
    await symlink(path.relative(path.dirname(dirOf(PACK_LAYOUT.command)), dirOf(PACK_LAYOUT.binary)), dirOf(PACK_LAYOUT.command));

    log("copying the addon, its libraries, the eBPF objects, the calves and runc");
    const addon = path.join(dirOf(PACK_LAYOUT.native), "paddock_native.node");
    await install(inputs.addon, addon, 0o755);
    for (const o of inputs.bpfObjects) await install(o, path.join(dirOf(PACK_LAYOUT.native), path.basename(o)), 0o644);
    for (const [name, file] of await addonLibraries(inputs.addon)) {
      const dest = path.join(dirOf(PACK_LAYOUT.lib), name);
      await install(await realpath(file), dest, 0o644);
      // libbpf finds libelf beside it.
      await patchRunpath(dest, "$ORIGIN");
    }
    await patchRunpath(addon, "$ORIGIN/../lib");
    for (const c of inputs.calves) await install(c, path.join(dirOf(PACK_LAYOUT.calves), path.basename(c)), c.endsWith(".mjs") ? 0o644 : 0o755);
    await install(inputs.runc, dirOf(PACK_LAYOUT.runc), 0o755);
    await install(inputs.launcher, dirOf(PACK_LAYOUT.launcher), 0o755);
    await install(path.join(repo, "packages/cli/templates/pack/install.sh"), dirOf(PACK_LAYOUT.installer), 0o755);

    log("adding the units and the documentation");
    if (opts.generated !== undefined) {
      await addGenerated(opts.generated, tree);
    } else {
      for (const u of inputs.exampleUnits) await install(u, path.join(dirOf(PACK_LAYOUT.units), path.basename(u)), 0o644);
    }
    for (const d of inputs.docs) await install(d, path.join(dirOf(PACK_LAYOUT.doc), path.basename(d)), 0o644);
    await writeFile(path.join(dirOf(PACK_LAYOUT.prefix), "VERSION"), `${version}\n`, { mode: 0o644 });

    log(`writing ${opts.out}`);
    const members = await tarMembers(tree);
    const written = await writeTarball(tree, members, opts.out);
    const files = await listFiles(tree);
    const result: PackResult = {
      out: opts.out,
      version,
      files,
      compressedBytes: (await stat(opts.out)).size,
      installedKiB: files.reduce((kib, f) => kib + Math.ceil(f.bytes / 1024), 0),
      ...written,
    };
    if (opts.ociLayout !== undefined) {
      log(`writing the OCI image layout ${opts.ociLayout}`);
      const { writeOciLayout } = await import("./oci-layout.ts");
      await writeOciLayout(opts.ociLayout, { layer: opts.out, layerDigest: result.sha256, diffId: result.diffId, layerBytes: result.compressedBytes, version });
    }
    return result;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** A built calf: the Node bundle (calf-SERVICE.mjs) or the QuickJS executable (calf-SERVICE-quickjs). */
const CALF_FILE = /^calf-[a-z0-9-]+(\.mjs|-quickjs)$/;

/** The checkout's files that go into the tree; each one missing is named. */
interface PackInputs {
  readonly addon: string;
  readonly bpfObjects: readonly string[];
  readonly calves: readonly string[];
  readonly runc: string;
  readonly launcher: string;
  readonly exampleUnits: readonly string[];
  readonly docs: readonly string[];
}

async function findInputs(repo: string, runc: string): Promise<PackInputs> {
  const release = path.join(repo, "native/build/Release");
  const addon = path.join(release, "paddock_native.node");
  const bpfObjects = existsSync(release) ? (await readdir(release)).filter((f) => f.endsWith(".bpf.o")).sort().map((f) => path.join(release, f)) : [];
  const calves: string[] = [];
  const services = path.join(repo, "packages/services");
  for (const service of (await readdir(services)).sort()) {
    const dist = path.join(services, service, "calf/dist");
    if (!existsSync(dist)) continue;
    for (const f of (await readdir(dist)).sort()) if (CALF_FILE.test(f)) calves.push(path.join(dist, f));
  }
  const example = path.join(repo, "examples/image-builder");
  const exampleUnits = (await readdir(example)).filter((f) => f.endsWith(".service")).sort().map((f) => path.join(example, f));
  const docs = [path.join(repo, "README.md"), path.join(repo, "docs/pack.md")];
  const launcher = path.join(repo, "native/launcher/build/paddock-calf-launch");
  const missing = [addon, launcher, ...docs, path.join(repo, "packages/cli/src/sea-entry.ts")].filter((f) => !existsSync(f));
  if (bpfObjects.length === 0) missing.push(path.join(release, "*.bpf.o"));
  if (calves.length === 0) missing.push(path.join(services, "*/calf/dist/calf-*.mjs"));
  if (missing.length > 0) {
    throw new PackError("PADDOCK_E_PACK_MISSING_INPUT", `${missing.map((m) => path.relative(repo, m)).join(", ")} ${missing.length === 1 ? "is" : "are"} missing: run make setup in ${repo} first`);
  }
  if (!existsSync(runc)) throw new PackError("PADDOCK_E_PACK_MISSING_INPUT", `runc is not at ${runc}: install Debian's runc or pass --runc PATH`);
  return { addon, bpfObjects, calves, runc, launcher, exampleUnits, docs };
}

/** The Node binary must be one that can become a single executable and import() from it. */
async function checkNode(node: string): Promise<void> {
  let version: string;
  try {
    ({ stdout: version } = await execFileP(node, ["--version"], { env: {} }));
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_NODE", `${node} does not run as Node (node --version failed)`, { cause: e });
  }
  const m = /^v(\d+)\.(\d+)\.\d+$/.exec(version.trim());
  // Not Node at all (/bin/true prints coreutils' own --version): one sentence, not its text.
  if (!m) throw new PackError("PADDOCK_E_PACK_NODE", `${node} is not Node ${MIN_NODE.join(".")} or later`);
  const ok = Number(m[1]) > MIN_NODE[0] || (Number(m[1]) === MIN_NODE[0] && Number(m[2]) >= MIN_NODE[1]);
  if (!ok) throw new PackError("PADDOCK_E_PACK_NODE", `${node} is Node ${version.trim()}; packing needs Node ${MIN_NODE.join(".")} or later`);
}

/** The OCI layout goes into a new or empty directory: never mixed with what a directory holds. */
async function checkOciLayoutDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new PackError("PADDOCK_E_PACK_OUTPUT", `cannot use ${dir} for the OCI image layout: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (entries.length > 0) throw new PackError("PADDOCK_E_PACK_OUTPUT", `${dir} is not empty: the OCI image layout goes into a new or empty directory`);
}

async function requireTool(tool: string): Promise<void> {
  try {
    await execFileP("sh", ["-c", `command -v ${tool}`]);
  } catch {
    const apt: Readonly<Record<string, string>> = { ldd: "libc-bin", strip: "binutils" };
    throw new PackError("PADDOCK_E_PACK_TOOL", `packing needs ${tool}: apt-get install ${apt[tool] ?? tool}`);
  }
}

/**
 * The CLI as one CommonJS script (what a single executable runs): import.meta.url becomes the
 * executable's own URL (the addon is then found through PADDOCK_NATIVE_DIR, which the entry sets),
 * and `debug` the calves' no-op stand-in (the real one probes for optional modules with require(),
 * which a single executable refuses with a warning).
 */
async function bundleSeaMain(repo: string, outfile: string): Promise<void> {
  const esbuild = await import("esbuild");
  try {
    await esbuild.build({
      entryPoints: [path.join(repo, "packages/cli/src/sea-entry.ts")],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: "none",
      logLevel: "silent",
      alias: { debug: path.join(repo, "packages/calf/stubs/debug.cjs") },
      define: { "import.meta.url": "__paddockMetaUrl" },
      banner: { js: 'var __paddockMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
      external: ["*.node", "esbuild"],
    });
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_TOOL", `esbuild could not bundle the CLI: ${(e as Error).message}`, { cause: e });
  }
}

/** Node's single executable recipe: a preparation blob from `node --experimental-sea-config`, injected with postject. */
async function buildSingleExecutable(node: string, main: string, stage: string, dest: string): Promise<void> {
  const blob = path.join(stage, "sea.blob");
  const config = path.join(stage, "sea-config.json");
  await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }));
  try {
    await execFileP(node, ["--experimental-sea-config", config], { env: {} });
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_NODE", `${node} could not write a single executable blob (--experimental-sea-config)`, { cause: e });
  }
  await install(node, dest, 0o755);
  // Debian's node carries its debug information: 12.6 of its 98.9 MB (docs/pack.md). Stripped
  // before the blob goes in (stripping after would drop it).
  try {
    await execFileP("strip", ["--strip-all", dest]);
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_TOOL", `strip could not strip the copy of ${node}`, { cause: e });
  }
  // postject ships no types; its API is inject(file, resource, data, { sentinelFuse }).
  const postject: string = "postject";
  const { inject } = (await import(postject)) as { inject: (file: string, name: string, data: Buffer, o: { sentinelFuse: string }) => Promise<void> };
  // postject reports harmless ELF notes on stderr through console.warn; keep them out of our output.
  const warn = console.warn;
  console.warn = () => {};
  try {
    await inject(dest, SEA_RESOURCE, await readFile(blob), { sentinelFuse: SEA_FUSE });
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_NODE", `postject could not inject the CLI into ${node}: ${(e as Error).message}`, { cause: e });
  } finally {
    console.warn = warn;
  }
  await chmod(dest, 0o755);
}

/** The addon's libraries that are shipped (SHIPPED_LIBRARIES), as ldd resolves them here. */
async function addonLibraries(addon: string): Promise<Array<[string, string]>> {
  const { stdout } = await execFileP("ldd", [addon], { env: { LC_ALL: "C" } });
  const out: Array<[string, string]> = [];
  for (const name of SHIPPED_LIBRARIES) {
    const m = new RegExp(`^\\s*${name.replace(/\./g, "\\.")} => (/\\S+)`, "m").exec(stdout);
    if (!m) throw new PackError("PADDOCK_E_PACK_MISSING_INPUT", `the addon's ${name} is not found by ldd: apt-get install ${name.startsWith("libbpf") ? "libbpf1" : "libelf1"}`);
    out.push([name, m[1]!]);
  }
  return out;
}

async function patchRunpath(file: string, runpath: string): Promise<void> {
  try {
    await execFileP("patchelf", ["--set-rpath", runpath, file]);
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_TOOL", `patchelf could not set the library path of ${path.basename(file)}`, { cause: e });
  }
}

async function install(from: string, to: string, mode: number): Promise<void> {
  await copyFile(from, to);
  await chmod(to, mode);
}

/** A `paddock generate` output, placed where its units and bundles expect it (PACKED_INSTALL). */
async function addGenerated(generated: string, tree: string): Promise<void> {
  const copy = async (from: string, to: string): Promise<void> => {
    if (!existsSync(from)) return;
    await mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
    await cp(from, to, { recursive: true, preserveTimestamps: false });
  };
  await copy(path.join(generated, "bundles"), path.join(tree, PACK_LAYOUT.bundles));
  await copy(path.join(generated, "services"), path.join(tree, PACK_LAYOUT.services));
  await copy(path.join(generated, "config"), path.join(tree, PACK_LAYOUT.config));
  await copy(path.join(generated, "systemd"), path.join(tree, PACK_LAYOUT.units));
  for (const f of ["linuxkit.yml", "check-report.txt"]) await copy(path.join(generated, f), path.join(tree, PACK_LAYOUT.doc, "deployment", f));
  await copy(path.join(generated, "sysusers.d", "paddock.conf"), path.join(tree, PACK_LAYOUT.sysusers));
}

/**
 * The tar's members: Paddock's own directories and files only, never a parent such as usr/ or
 * usr/lib/ (tar would reset an existing directory's metadata, or replace a symlink to one).
 */
async function tarMembers(tree: string): Promise<string[]> {
  const units = (await readdir(path.join(tree, PACK_LAYOUT.units))).sort().map((u) => `${PACK_LAYOUT.units}/${u}`);
  const config = existsSync(path.join(tree, PACK_LAYOUT.config)) ? [PACK_LAYOUT.config] : [];
  const sysusers = existsSync(path.join(tree, PACK_LAYOUT.sysusers)) ? [PACK_LAYOUT.sysusers] : [];
  return [PACK_LAYOUT.prefix, PACK_LAYOUT.command, ...units, PACK_LAYOUT.doc, ...config, ...sysusers];
}

/** Counts the bytes through it and hashes them. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/**
 * tar (owned by root, sorted, one mtime: the same inputs give the same bytes) | gzip -9, hashing
 * the tar and the .tar.gz on the way (the OCI layer's diff id and digest).
 */
async function writeTarball(tree: string, members: readonly string[], out: string): Promise<{ sha256: string; diffId: string }> {
  const mtime = process.env.SOURCE_DATE_EPOCH ?? String(Math.floor(Date.now() / 1000));
  const tar = spawn("tar", ["--create", "--file=-", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${mtime}`, "--format=gnu", "-C", tree, "--", ...members], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  tar.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => tar.on("close", resolve));
  const tarHash = createHash("sha256");
  const gzHash = createHash("sha256");
  try {
    await mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await pipeline(tar.stdout, hashing(tarHash), createGzip({ level: 9 }), hashing(gzHash), createWriteStream(out));
  } catch (e) {
    throw new PackError("PADDOCK_E_PACK_OUTPUT", `cannot write ${out}: ${(e as Error).message}`, { cause: e });
  }
  const code = await exited;
  if (code !== 0) throw new PackError("PADDOCK_E_PACK_TOOL", `tar failed (exit ${code}): ${stderr.trim()}`);
  return { sha256: `sha256:${gzHash.digest("hex")}`, diffId: `sha256:${tarHash.digest("hex")}` };
}

/** Every regular file of the tree with its size, sorted. */
async function listFiles(tree: string): Promise<PackedFile[]> {
  const out: PackedFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ path: path.relative(tree, p), bytes: (await stat(p)).size });
    }
  };
  await walk(tree);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
