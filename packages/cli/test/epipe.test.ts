// A reader that stops early closes the pipe: a command that prints and ends stops quietly.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findPaddockBin } from "@paddock/testkit";

/** ../shared beside the checkout: 1000+ DHCP packets, more than one pipe buffer of output. */
const FLOOD = fileURLToPath(new URL("../../../../shared/pcaps/public/zeek/dhcp_flood.pcap", import.meta.url));

/** Runs paddock ARGS, closes its stdout after the first chunk, and returns how it ended. */
function readFirstChunkThenClose(args: string[]): Promise<{ code: number | null; stderr: string; first: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(findPaddockBin(), args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let first = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.once("data", (d: Buffer) => {
      first = d.toString();
      child.stdout.destroy();
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stderr, first }));
  });
}

describe("a closed stdout (paddock … | head)", () => {
  it("ends paddock dhcp decode quietly with status 0, after what it printed", async () => {
    const r = await readFirstChunkThenClose(["dhcp", "decode", FLOOD]);
    expect(r.first).toMatch(/^\{"op":/);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
