/**
 * `paddock pack` (docs/pack.md): the artefact is built once for this file, installed into fresh
 * directory trees, and run from there with no Node and no checkout in sight — a private mount
 * namespace in which /usr/bin/node is /dev/null and /work and Node's module directories are
 * empty, and an empty environment (`env -i`) — in a namespace lab against dnsmasq.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, defaultOffer, findPaddockBin, LAB_SKIP_REASON, runAsync, runOk, startDnsmasq, startPaddock, waitFor, waitForAddress, type Lab } from "@paddock/testkit";

if (!canCreateLabs && process.env.CI === "true") throw new Error("the pack test needs root, and CI must run it");

/** Packing copies and patches a 100 MB binary and gzips it: about a minute on a busy 2-core VM. */
const PACK_TIMEOUT_MS = 600_000;
/** Bounds a hang of the packed binary's start, lease and stop. */
const RUN_TIMEOUT_MS = 120_000;

/** A deployment packed with the artefact: paddock generate's bundle, unit and configuration go in. */
const DEPLOYMENT = `name: edge
services:
  dhcp4:
    interfaces: [eth0]
    options: { resolv-conf: /run/paddock/resolv.conf }
`;

/** The checkout: nothing of it may be reachable from the packed binary. */
const CHECKOUT = path.resolve(import.meta.dirname, "..");
/**
 * What is hidden from the packed binary: the checkout's parent (with ../shared and any other
 * checkout beside it), or only the checkout when the test's own directory lies under that parent
 * too (a clone under /tmp, where the test writes its image).
 */
function hiddenDir(testDir: string): string {
  const parent = path.dirname(CHECKOUT);
  return testDir.startsWith(`${parent}/`) ? CHECKOUT : parent;
}

describe.skipIf(!canCreateLabs)(`paddock pack: the artefact, installed and run without Node (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let dir = "";
  let tarball = "";
  let oci = "";
  let packOutput = "";
  let lab: Lab | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pck-"));
    tarball = path.join(dir, "paddock-test-linux-x64.tar.gz");
    oci = path.join(dir, "oci");
    const deployment = path.join(dir, "deployment.yaml");
    writeFileSync(deployment, DEPLOYMENT);
    const r = await runAsync(findPaddockBin(), ["pack", "--out", tarball, "--oci-layout", oci, "--deployment", deployment], { timeoutMs: PACK_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`paddock pack failed (${r.status}): ${r.stderr}`);
    packOutput = r.stdout;
  }, PACK_TIMEOUT_MS);

  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    await lab?.destroy();
    lab = undefined;
  });

  /** Extracts the tarball into a fresh directory (tar -xzf … -C DIR, as onto /). */
  function extract(name: string): string {
    const root = path.join(dir, name);
    runOk("mkdir", ["-p", root]);
    runOk("tar", ["-xzf", tarball, "-C", root]);
    return root;
  }

  /**
   * A script that runs its arguments with Node and the checkout hidden, in an empty environment:
   * a private mount namespace in which /usr/bin/node is /dev/null and /work and Node's module
   * directories are empty tmpfs. It execs all the way down, so its pid is the command's.
   */
  function withoutNode(): string {
    const script = path.join(dir, "without-node.sh");
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        `exec unshare --mount --propagation private sh -c '`,
        `  for d in ${hiddenDir(dir)} /usr/share/nodejs /usr/lib/nodejs /usr/lib/node_modules /usr/local/lib/node_modules; do`,
        `    if [ -d "$d" ]; then mount -t tmpfs -o size=4k,mode=0755 paddock-hidden "$d" || exit 97; fi`,
        "  done",
        "  mount --bind /dev/null /usr/bin/node || exit 97",
        `  exec env -i "$@"' sh "$@"`,
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    return script;
  }

  /** A script that runs the `paddock` installed under `root` through withoutNode(). */
  function packedPaddock(root: string): string {
    const script = path.join(dir, `paddock-${path.basename(root)}.sh`);
    writeFileSync(script, `#!/bin/sh\nexec ${withoutNode()} ${path.join(root, "usr/sbin/paddock")} "$@"\n`, { mode: 0o755 });
    return script;
  }

  it("writes one tree under usr/ and etc/paddock/ (never a parent directory), an OCI layout of it, and reports its sizes", () => {
    expect(packOutput).toMatch(/MiB compressed, [\d.]+ MiB installed \(\d+ files\), sha256:[0-9a-f]{64}/);
    const members = runOk("tar", ["-tzf", tarball]).trim().split("\n");
    expect(members.filter((m) => !m.startsWith("usr/") && !m.startsWith("etc/paddock/"))).toEqual([]);
    expect(members).not.toContain("etc/");
    for (const parent of ["usr/", "usr/lib/", "usr/sbin/", "usr/share/", "usr/lib/systemd/", "usr/lib/systemd/system/"]) expect(members).not.toContain(parent);
    for (const f of [
      "usr/sbin/paddock",
      "usr/lib/paddock/paddock",
      "usr/lib/paddock/install.sh",
      "usr/lib/paddock/bin/runc",
      "usr/lib/paddock/paddock-calf-launch",
      "usr/lib/paddock/native/paddock_native.node",
      "usr/lib/paddock/native/dhcp_filter.bpf.o",
      "usr/lib/paddock/native/egress_policy.bpf.o",
      "usr/lib/paddock/lib/libbpf.so.1",
      "usr/lib/paddock/lib/libelf.so.1",
      "usr/lib/paddock/calves/calf-dhcp4.mjs",
      "usr/share/doc/paddock/pack.md",
      // The deployment, generated for this tree.
      "usr/lib/systemd/system/paddock-edge.service",
      "usr/lib/paddock/bundles/dhcp4-eth0/config.json",
      "etc/paddock/paddock-edge.yaml",
      "usr/share/doc/paddock/deployment/linuxkit.yml",
      "usr/share/doc/paddock/deployment/check-report.txt",
    ]) {
      expect(members).toContain(f);
    }
    // Its units replace the example ones.
    expect(members).not.toContain("usr/lib/systemd/system/paddock-dhcp@.service");
    expect(members.filter((m) => /\.ts$|node_modules/.test(m))).toEqual([]);

    // The layout's layer is the tarball itself; the config names the tar inside it.
    const blob = (digest: string): Buffer => readFileSync(path.join(oci, "blobs/sha256", digest.replace(/^sha256:/, "")));
    const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;
    expect(JSON.parse(readFileSync(path.join(oci, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(readFileSync(path.join(oci, "index.json"), "utf8")) as { manifests: Array<{ digest: string; size: number }> };
    const manifestBytes = blob(index.manifests[0]!.digest);
    expect(sha(manifestBytes)).toBe(index.manifests[0]!.digest);
    const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
    const tgz = readFileSync(tarball);
    expect(manifest.layers).toEqual([{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(tgz), size: tgz.length }]);
    const config = JSON.parse(blob(manifest.config.digest).toString()) as { rootfs: { diff_ids: string[] }; config: { Entrypoint: string[] } };
    expect(config.rootfs.diff_ids).toEqual([sha(gunzipSync(tgz))]);
    expect(config.config.Entrypoint).toEqual(["/usr/sbin/paddock"]);

    // The generated unit runs the packed command on the packed bundles, whose calf runs the packed binary.
    const root = extract("generated");
    expect(readFileSync(path.join(root, "usr/lib/systemd/system/paddock-edge.service"), "utf8")).toMatch(/^ExecStart=\/usr\/sbin\/paddock run dhcp4 --iface eth0 .*--bundle-dir \/usr\/lib\/paddock\/bundles /m);
    const calf = JSON.parse(readFileSync(path.join(root, "usr/lib/paddock/bundles/dhcp4-eth0/config.json"), "utf8")) as { process: { args: string[]; env: string[] }; mounts: Array<{ source: string }> };
    expect(calf.process.args).toEqual(["/usr/lib/paddock/paddock", "--paddock-calf", "/calf/main.mjs"]);
    expect(calf.process.env).toEqual(["HOME=/", expect.stringMatching(/^NODE_OPTIONS=--jitless --max-old-space-size=\d+$/)]);
    expect(calf.mounts.map((m) => m.source)).toEqual(expect.arrayContaining(["/usr/lib/paddock/paddock", "/usr/lib/paddock/calves/calf-dhcp4.mjs"]));
  });

  it("installs into a fresh tree with install.sh --root as with tar -C, and runs --version and --help there with no Node", async () => {
    const extracted = extract("extracted");
    const image = path.join(dir, "image");
    runOk("mkdir", ["-p", image]);
    const installed = await runAsync(path.join(extracted, "usr/lib/paddock/install.sh"), ["--root", image], { env: {} });
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`installed Paddock 0.1.0 into ${image}`);
    // A bare directory has no libc: said, not fatal (an image may get its packages afterwards).
    expect(installed.stderr).toMatch(/warning: .* lacks .*libc\.so\.6.*: install Debian's libc6/);
    expect(runOk("find", [image, "-printf", "%P %m %l\n"]).split("\n").sort()).toEqual(runOk("find", [extracted, "-printf", "%P %m %l\n"]).split("\n").sort());
    expect(readlinkSync(path.join(image, "usr/sbin/paddock"))).toBe("../lib/paddock/paddock");

    const run = packedPaddock(image);
    // Where it runs, there is no node to run and no checkout to load anything from.
    const probe = await runAsync(withoutNode(), ["/bin/sh", "-c", `ls -A ${hiddenDir(dir)}; echo end; /usr/bin/node --version`]);
    expect(probe.stdout).toBe("end\n");
    expect(probe.status).not.toBe(0);

    const version = await runAsync(run, ["--version"], { timeoutMs: RUN_TIMEOUT_MS });
    expect(version.stderr).toBe("");
    expect(version).toMatchObject({ status: 0, stdout: "0.1.0\n" });
    const help = await runAsync(run, ["--help"], { timeoutMs: RUN_TIMEOUT_MS });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: paddock /);
    expect(help.stdout).toMatch(/^\s+dhcp /m);
    expect(help.stdout).toMatch(/^\s+pack /m);
    // The packed binary refuses to pack (it has neither the sources nor the build tools).
    const again = await runAsync(run, ["pack"], { timeoutMs: RUN_TIMEOUT_MS });
    expect(again).toMatchObject({ status: 1, stderr: "paddock: paddock pack runs in a checkout (make setup; node_modules/.bin/paddock pack), not from a packed Paddock\n" });
    // Nor does it build a service's source (no esbuild in it): it says to build in a checkout.
    const source = path.join(dir, "service.ts");
    writeFileSync(source, "export default {};\n");
    const build = await runAsync(run, ["run", source, "--iface", "lo"], { timeoutMs: RUN_TIMEOUT_MS });
    expect(build.status).toBe(1);
    expect(build.stderr).toContain(`paddock: ${source} is a service's source, and a packed Paddock runs built services only`);
  }, RUN_TIMEOUT_MS * 4);

  // --calf-engine node: the Node calf is the one the packed binary runs (in calf mode); the built-in
  // services' default, the QuickJS executable the tree also carries, needs no Node at all.
  it("the installed priv, started with env -i and no Node, runs its Node calf as the packed binary and gets a lease from dnsmasq", async () => {
    const root = extract("rootfs");
    lab = createLab({ prefix: "pck" });
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: "10.86.0.1/24" } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer("10.86.0") });
    const runtimeDir = lab.file("run");
    const priv = startPaddock(
      lab,
      client,
      ["dhcp", "--iface", link.b.name, "--no-arp-probe", "--state-dir", lab.file("state"), "--runtime-dir", runtimeDir, "--resolv-conf", lab.file("resolv.conf"), "--log-format", "json", "--calf-engine", "node"],
      { bin: packedPaddock(root), name: "packed paddock dhcp" },
    );
    const addr = await waitForAddress(lab, client, link.b.name, "inet", { abortOnExit: priv, timeoutMs: RUN_TIMEOUT_MS });
    expect(addr.local).toMatch(/^10\.86\.0\.\d+$/);
    // The address, routes and resolv.conf are applied in that order: wait for the last.
    await waitFor(() => existsSync(lab!.file("resolv.conf")) && /^nameserver 10\.86\.0\.1$/m.test(readFileSync(lab!.file("resolv.conf"), "utf8")), {
      what: "the lease's name server in resolv.conf",
      timeoutMs: RUN_TIMEOUT_MS,
      abortOnExit: priv,
    });

    // The calf runs the packed binary in calf mode, its V8 flags (--jitless) in NODE_OPTIONS.
    const configFile = await waitFor(() => runOk("find", [path.join(runtimeDir, "calves"), "-name", "config.json"]).trim().split("\n")[0] || undefined, {
      what: "the calf's config.json",
      timeoutMs: RUN_TIMEOUT_MS,
    });
    const calf = JSON.parse(readFileSync(configFile, "utf8")) as { process: { args: string[]; env: string[] }; mounts: Array<{ source: string }> };
    const binary = path.join(root, "usr/lib/paddock/paddock");
    expect(calf.process.args).toEqual([binary, "--paddock-calf", "/calf/main.mjs"]);
    expect(calf.process.env).toEqual(["HOME=/", expect.stringMatching(/^NODE_OPTIONS=--jitless --max-old-space-size=\d+$/)]);
    expect(calf.mounts.map((m) => m.source)).toContain(path.join(root, "usr/lib/paddock/calves/calf-dhcp4.mjs"));
    expect(calf.mounts.map((m) => m.source).filter((s) => s.startsWith(CHECKOUT) || s === "/usr/bin/node")).toEqual([]);

    // The priv's own sandbox holds in the packed binary too (test/priv-sandbox.test.ts has the
    // details): seccomp filter and NoNewPrivs, and SIGUSR1 opens no inspector.
    await priv.waitForEntry((e) => e.msg === "priv sandboxed: capabilities reduced, NoNewPrivs, seccomp deny list", { timeoutMs: RUN_TIMEOUT_MS, what: "the sandbox line" });
    const status = readFileSync(`/proc/${priv.pid}/status`, "utf8");
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    process.kill(priv.pid!, "SIGUSR1");
    // A renewal is a round trip through the priv's loop and the calf's, after the signal.
    const renewed = (e: Record<string, unknown>) => typeof e.msg === "string" && /RENEWING → BOUND/.test(e.msg);
    const asked = await lab.run(client, [packedPaddock(root), "renew", link.b.name, "--runtime-dir", runtimeDir]);
    expect(asked.status, asked.stderr).toBe(0);
    await priv.waitForEntry(renewed, { timeoutMs: RUN_TIMEOUT_MS, what: "a renewal answered" });
    const ports = await lab.run(null, ["nsenter", `--net=/proc/${priv.pid}/ns/net`, "ss", "-Htln"]);
    expect(ports.stdout).not.toMatch(/:9229\b/);

    expect((await priv.stop()).code).toBe(0);
  }, RUN_TIMEOUT_MS * 3);

  it("the installed priv with no --calf-engine runs the QuickJS calf the tree carries (the built-in services' default) and gets a lease", async () => {
    const root = extract("rootfs-quickjs");
    const quickjsCalf = path.join(root, "usr/lib/paddock/calves/calf-dhcp4-quickjs");
    expect(existsSync(quickjsCalf), "the tree carries the QuickJS DHCP calf (make setup builds it)").toBe(true);
    lab = createLab({ prefix: "pck" });
    const server = lab.namespace("server");
    const client = lab.namespace("client");
    const link = lab.veth(server, client, { addresses: { a: "10.87.0.1/24" } });
    await startDnsmasq(lab, server, { iface: link.a.name, offer: defaultOffer("10.87.0") });
    const runtimeDir = lab.file("run");
    const priv = startPaddock(
      lab,
      client,
      ["dhcp", "--iface", link.b.name, "--no-arp-probe", "--state-dir", lab.file("state"), "--runtime-dir", runtimeDir, "--resolv-conf", lab.file("resolv.conf"), "--log-format", "json"],
      { bin: packedPaddock(root), name: "packed paddock dhcp (default engine)" },
    );
    await waitForAddress(lab, client, link.b.name, "inet", { abortOnExit: priv, timeoutMs: RUN_TIMEOUT_MS });
    const configFile = await waitFor(() => runOk("find", [path.join(runtimeDir, "calves"), "-name", "config.json"]).trim().split("\n")[0] || undefined, {
      what: "the calf's config.json",
      timeoutMs: RUN_TIMEOUT_MS,
    });
    const calf = JSON.parse(readFileSync(configFile, "utf8")) as { process: { args: string[] }; mounts: Array<{ source: string; destination: string }> };
    expect(calf.process.args).toEqual(["/calf/main"]);
    expect(calf.mounts.find((m) => m.destination === "/calf/main")?.source).toBe(quickjsCalf);
    expect(priv.logEntries().filter((e) => e.level === 40 || e.level === "warn")).toEqual([]);
    expect((await priv.stop()).code).toBe(0);
  }, RUN_TIMEOUT_MS * 2);
});
