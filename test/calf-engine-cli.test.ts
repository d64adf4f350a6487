/**
 * `--calf-engine` on the command line (issue 14, docs/decisions/0010-quickjs-calf-engine.md): each
 * engine a user can ask for that cannot run is refused in one sentence, before anything starts.
 * No root needed: the refusals come before the priv's own checks.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { calfOnEngine, CalfEngineError } from "../packages/cli/src/services.ts";
import { dhcp4Service } from "../packages/services/dhcp4/service/src/index.ts";
import { ntpService } from "../packages/services/ntp/service/src/index.ts";
import { paddock, repoRoot } from "./helpers/paddock.ts";

const work = mkdtempSync(path.join(tmpdir(), "paddock-calf-engine-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The one line a refused command prints, and its status. */
function refusal(args: string[]): { status: number | null; line: string } {
  const r = paddock(args);
  return { status: r.status, line: r.stderr.trim() };
}

describe("--calf-engine refusals", () => {
  it("an engine that does not exist", () => {
    for (const command of [["dhcp", "--iface", "eth9"], ["ntp", "--iface", "eth9", "--server", "192.0.2.1"], ["ra", "--iface", "eth9"], ["dhcp6", "--iface", "eth9"], ["run", "dhcp4", "--iface", "eth9"]]) {
      expect(refusal([...command, "--calf-engine", "v8"]), command[0]).toEqual({ status: 1, line: 'paddock: --calf-engine must be node or quickjs, not "v8"' });
    }
  });

  it("a custom calf on QuickJS", () => {
    const calf = path.join(work, "calf.mjs");
    writeFileSync(calf, "");
    expect(refusal(["dhcp", "--iface", "eth9", "--calf", calf, "--calf-engine", "quickjs"])).toEqual({ status: 1, line: "paddock: --calf runs a calf on Node only: leave out --calf-engine quickjs" });
  });

  // Every built-in service has a QuickJS form (scripts/build.ts): an empty calf folder stands for
  // an installation built without QuickJS.
  it("a built-in service without a QuickJS calf, asked for QuickJS", () => {
    const empty = mkdtempSync(path.join(work, "calves-"));
    process.env.PADDOCK_CALF_DIR = empty;
    try {
      for (const [command, service] of [[["run", "ra"], "ra"], [["dhcp6"], "dhcp6"]] as const) {
        const r = refusal([...command, "--iface", "eth9", "--calf-engine", "quickjs"]);
        expect(r.status, command.join(" ")).toBe(1);
        expect(r.line).toBe(`paddock: there is no QuickJS calf of ${service} (${path.join(empty, `calf-${service}-quickjs`)}): make setup builds QuickJS and the calves that run on it, and did not here; run it with --calf-engine node`);
      }
    } finally {
      delete process.env.PADDOCK_CALF_DIR;
    }
  });

  it("paddock dhcp without a QuickJS calf, asked for QuickJS, where its Node calf is there", () => {
    const calves = mkdtempSync(path.join(work, "calves-"));
    copyFileSync(path.join(repoRoot, "packages/services/dhcp4/calf/dist/calf-dhcp4.mjs"), path.join(calves, "calf-dhcp4.mjs"));
    process.env.PADDOCK_CALF_DIR = calves;
    try {
      const r = refusal(["dhcp", "--iface", "eth9", "--calf-engine", "quickjs"]);
      expect(r).toEqual({ status: 1, line: `paddock: there is no QuickJS calf of dhcp4 (${path.join(calves, "calf-dhcp4-quickjs")}): make setup builds QuickJS and the calves that run on it, and did not here; run it with --calf-engine node` });
    } finally {
      delete process.env.PADDOCK_CALF_DIR;
    }
  });
});

describe("calfOnEngine: the engine a built-in service's calf runs on", () => {
  const withCalfDir = <T>(dir: string, f: () => T): T => {
    process.env.PADDOCK_CALF_DIR = dir;
    try {
      return f();
    } finally {
      delete process.env.PADDOCK_CALF_DIR;
    }
  };
  const ntp = (dir: string) => ({ definition: ntpService, calfScript: path.join(dir, "calf-ntp.mjs"), source: "ntp" });

  it("QuickJS by default, Node when asked", () => {
    const dir = mkdtempSync(path.join(work, "calves-"));
    writeFileSync(path.join(dir, "calf-ntp.mjs"), "");
    writeFileSync(path.join(dir, "calf-ntp-quickjs"), "");
    withCalfDir(dir, () => {
      expect(calfOnEngine(ntp(dir), undefined)).toEqual({ calfScript: path.join(dir, "calf-ntp-quickjs"), calfEngine: "quickjs" });
      expect(calfOnEngine(ntp(dir), "node")).toEqual({ calfScript: path.join(dir, "calf-ntp.mjs"), calfEngine: "node" });
    });
    expect(dhcp4Service.calf.engine).toBe("quickjs");
  });

  it("without the QuickJS executable: Node with a warning saying why and what to do; asked for QuickJS: a typed refusal", () => {
    const dir = mkdtempSync(path.join(work, "calves-"));
    writeFileSync(path.join(dir, "calf-ntp.mjs"), "");
    withCalfDir(dir, () => {
      expect(calfOnEngine(ntp(dir), undefined)).toEqual({
        calfScript: path.join(dir, "calf-ntp.mjs"),
        calfEngine: "node",
        warning: `the calf of ntp runs on Node (~45 MiB instead of ~4): its QuickJS executable ${path.join(dir, "calf-ntp-quickjs")} is missing; make setup builds it (with gcc and the npm registry; its output says why it could not), and --calf-engine node chooses Node without this warning`,
      });
      expect(calfOnEngine(ntp(dir), "node")).toEqual({ calfScript: path.join(dir, "calf-ntp.mjs"), calfEngine: "node" });
      let refused: unknown;
      try {
        calfOnEngine(ntp(dir), "quickjs");
      } catch (err) {
        refused = err;
      }
      expect(refused).toBeInstanceOf(CalfEngineError);
      expect((refused as CalfEngineError).code).toBe("PADDOCK_E_CALF_ENGINE_UNAVAILABLE");
    });
  });
});
