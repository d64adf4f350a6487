/**
 * `paddock pack`'s refusals that come before any packing (docs/pack.md, "Errors"): one sentence
 * each, from the CLI as a user runs it. The artefact itself is test/pack.test.ts's (slow, root).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const cli = path.resolve(import.meta.dirname, "../bin/paddock.mjs");
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
const paddock = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

describe("paddock pack refuses in one sentence", () => {
  it("a --node that is not Node (its own --version text stays out)", () => {
    dir = mkdtempSync(path.join(tmpdir(), "fx-pack-"));
    const r = paddock("pack", "--node", "/bin/true", "--out", path.join(dir, "p.tar.gz"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("paddock: /bin/true is not Node 20.12 or later (PADDOCK_E_PACK_NODE)\n");
  });

  it("an --oci-layout directory that is not empty", () => {
    dir = mkdtempSync(path.join(tmpdir(), "fx-pack-"));
    const oci = path.join(dir, "oci");
    mkdirSync(oci);
    writeFileSync(path.join(oci, "mine.txt"), "keep me");
    const r = paddock("pack", "--oci-layout", oci, "--out", path.join(dir, "p.tar.gz"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`paddock: ${oci} is not empty: the OCI image layout goes into a new or empty directory (PADDOCK_E_PACK_OUTPUT)\n`);
  });
});
