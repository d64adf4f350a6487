// A mistake on the command line is one "paddock: ..." sentence naming the help to read, exit 1.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { findPaddockBin } from "@paddock/testkit";

function paddock(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(findPaddockBin(), args, { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("command-line mistakes", () => {
  it.each([
    [["frob"], "paddock: unknown command 'frob' (paddock --help lists the commands)\n"],
    [["dhcp", "--bogus", "eth0"], "paddock: unknown option '--bogus' (paddock dhcp --help lists the options)\n"],
    [["dhcp", "decode", "--zzz"], "paddock: unknown option '--zzz' (paddock dhcp decode --help lists the options)\n"],
    [["generate", "d.yaml"], "paddock: required option '--out <dir>' not specified (paddock generate --help lists the options)\n"],
  ])("paddock %j prints one sentence and exits 1", (args, sentence) => {
    const r = paddock(args);
    expect(r).toEqual({ status: 1, stdout: "", stderr: sentence });
  });

  it("--help still prints the usage, exit 0", () => {
    const r = paddock(["dhcp", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: paddock dhcp \[options\]/);
  });
});
