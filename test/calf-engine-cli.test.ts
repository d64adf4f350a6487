/**
 * `--calf-engine` on the command line (issue 14, docs/decisions/0010-quickjs-calf-engine.md): each
 * engine a user can ask for that cannot run is refused in one sentence, before anything starts.
 * No root needed: the refusals come before the priv's own checks.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { paddock } from "./helpers/paddock.ts";

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
  it("a built-in service without a QuickJS calf", () => {
    const empty = mkdtempSync(path.join(work, "calves-"));
    process.env.PADDOCK_CALF_DIR = empty;
    try {
      for (const [command, service] of [[["run", "ra"], "ra"], [["dhcp6"], "dhcp6"]] as const) {
        const r = refusal([...command, "--iface", "eth9", "--calf-engine", "quickjs"]);
        expect(r.status, command.join(" ")).toBe(1);
        expect(r.line).toBe(`paddock: there is no QuickJS calf of ${service} (${path.join(empty, `calf-${service}-quickjs`)}): make setup builds QuickJS and the calves that run on it, and this one does not yet; run it with --calf-engine node`);
      }
    } finally {
      delete process.env.PADDOCK_CALF_DIR;
    }
  });
});
