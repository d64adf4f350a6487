/**
 * `paddock new service`: the scaffolded project, in a directory outside this repository, installs
 * with npm (Paddock's packages as file: links; the tools linked from this checkout with
 * --link-deps, so the test needs no network), passes its own tests and typecheck, builds as an
 * unprivileged user, and (as root) runs under `paddock run` in a namespace until its calf has
 * published. Also: a bad name and a non-empty directory are refused with one sentence.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateLabs, createLab, hasCommands, LAB_SKIP_REASON, startPaddock, waitFor, type Lab } from "@paddock/testkit";

const repoRoot = path.resolve(import.meta.dirname, "..");
const PADDOCK = path.join(repoRoot, "node_modules/.bin/paddock");
const isRoot = process.getuid?.() === 0;
const NEEDS = ["runc", "nsenter", "npm", "setpriv"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the scaffolder test as root with ${NEEDS.join(", ")}`);
const runLab = canCreateLabs && hasCommands(NEEDS);
/** npm install of links, a vitest run and a typecheck: seconds each; this is a hang. */
const STEP_TIMEOUT_MS = 120_000;

/** The environment of a child tool: none of this vitest's own variables (an inner vitest would take them as its own). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("VITEST") && k !== "NODE_OPTIONS" && k !== "TEST" && k !== "NODE_ENV") env[k] = v;
  return env;
}

function sh(cmd: string, args: string[], cwd: string, env = cleanEnv()): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: STEP_TIMEOUT_MS });
  return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

describe("paddock new service", () => {
  let base: string;
  let project: string;

  beforeAll(() => {
    // Outside the repository, reachable by `nobody` (paddock run builds as nobody).
    base = mkdtempSync(path.join(tmpdir(), "pdk-new-"));
    chmodSync(base, 0o755);
    project = path.join(base, "hello");
  });

  afterAll(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it("refuses a bad name and a non-empty directory, with one sentence each", () => {
    const bad = sh(PADDOCK, ["new", "service", "Hello-World", path.join(base, "x")], base);
    expect(bad.status).toBe(1);
    expect(bad.out.trim()).toBe(`paddock: "Hello-World" is not a service name: use 1–10 lower-case letters and digits, starting with a letter`);
    const full = path.join(base, "full");
    mkdirSync(full);
    writeFileSync(path.join(full, "keep.txt"), "mine\n");
    const busy = sh(PADDOCK, ["new", "service", "hello", full], base);
    expect(busy.status).toBe(1);
    expect(busy.out.trim()).toBe(`paddock: ${full} already exists and is not an empty directory; choose a new one`);
    expect(readFileSync(path.join(full, "keep.txt"), "utf8")).toBe("mine\n");
  });

  it("scaffolds a project that installs, passes its tests and typecheck, and builds unprivileged", () => {
    const made = sh(PADDOCK, ["new", "service", "hello", "hello", "--link-deps"], base);
    expect(made.status, made.out).toBe(0);
    const pkg = JSON.parse(readFileSync(path.join(project, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    expect(pkg.devDependencies["@paddock/runtime"]).toBe(`file:${path.join(repoRoot, "packages/runtime")}`);
    expect(Object.values(pkg.devDependencies).every((v) => v.startsWith("file:/"))).toBe(true);

    const install = sh("npm", ["install", "--offline", "--no-audit", "--no-fund"], project);
    expect(install.status, install.out).toBe(0);
    const tests = sh(path.join(project, "node_modules/.bin/vitest"), ["run"], project);
    expect(tests.status, tests.out).toBe(0);
    expect(tests.out.replace(/\x1b\[[0-9;]*m/g, "")).toMatch(/Tests\s+4 passed/);
    const types = sh(path.join(project, "node_modules/.bin/tsc"), ["--noEmit"], project);
    expect(types.status, types.out).toBe(0);

    const out = path.join(base, "built");
    const asNobody = isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
    if (isRoot) {
      mkdirSync(out);
      spawnSync("chown", ["65534:65534", out]);
    }
    const [cmd, ...args] = [...asNobody, path.join(project, "node_modules/.bin/paddock"), "build", "./service.ts", "--out", out];
    const build = sh(cmd!, args, project, { ...cleanEnv(), HOME: out });
    expect(build.status, build.out).toBe(0);
    expect(readFileSync(path.join(out, "calf.mjs"), "utf8")).toMatch(/hello calf started/);
  }, 4 * STEP_TIMEOUT_MS);

  describe.skipIf(!runLab)(`under paddock run (${runLab ? "root" : canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON})`, () => {
    let lab: Lab | undefined;
    afterAll(async () => {
      await lab?.destroy();
    });

    it("starts its calf, which publishes, and its handler applies what it published", async () => {
      lab = createLab({ prefix: "pdknew" });
      const server = lab.namespace("srv", { ipv6: false });
      const client = lab.namespace("cli", { ipv6: false });
      const link = lab.veth(server, client, { addresses: { a: "10.84.0.1/24", b: "10.84.0.2/24" } });
      const runtimeDir = lab.file("run");
      mkdirSync(runtimeDir, { mode: 0o711 });
      const stateDir = lab.file("state");
      const p = startPaddock(lab, client, ["run", path.join(project, "service.ts"), "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", stateDir, "--set", "peer=10.84.0.1"], { bin: path.join(project, "node_modules/.bin/paddock"), name: "paddock run hello" });
      await p.waitForLog(/hello calf started/, { timeoutMs: 30_000 });
      const status = await waitFor(
        () => {
          try {
            const s = JSON.parse(readFileSync(path.join(stateDir, "status.json"), "utf8")) as { state: string; replies: number };
            return s.state === "running" ? s : undefined;
          } catch {
            return undefined;
          }
        },
        { what: "the scaffolded service's status.json to say running", timeoutMs: 30_000, abortOnExit: p, state: () => p.tail() },
      );
      expect(status.replies).toBe(0);
      expect((await p.stop()).code).toBe(0);
    }, 90_000);
  });
});
