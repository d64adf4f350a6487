/**
 * A packed Paddock's calves (paddock pack, docs/pack.md): the calf's OCI config runs the packed
 * binary in calf mode with its V8 flags in NODE_OPTIONS; a plain Node's is unchanged.
 */
import { describe, expect, it } from "vitest";
import { calfHeapMiB, calfOciConfig, type CalfName, type CalfSandboxSpec } from "../src/sandbox/bundle.ts";
import { calfCommandFor, PACKED_CALF_ARG, runningPacked } from "../src/sandbox/packed.ts";

const spec: CalfSandboxSpec = { name: "dhcp" as CalfName, script: "/usr/lib/paddock/calves/calf-dhcp4.mjs", memoryBytes: 96 << 20, pids: 32 };
const libraries = ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"];

describe("the calf's command for a packed Paddock", () => {
  it("is BINARY --paddock-calf /calf/main.mjs, with --jitless and the heap limit in NODE_OPTIONS and nothing else added", () => {
    const config = calfOciConfig(spec, { binary: "/usr/lib/paddock/paddock", libraries, packed: true });
    expect(config.process.args).toEqual(["/usr/lib/paddock/paddock", PACKED_CALF_ARG, "/calf/main.mjs"]);
    expect(config.process.env).toEqual(["HOME=/", `NODE_OPTIONS=--jitless --max-old-space-size=${calfHeapMiB(spec.memoryBytes)}`]);
    // The same mounts as a plain Node's: the binary (read-only, executable), its libraries, the script.
    const plain = calfOciConfig(spec, { binary: "/usr/lib/paddock/paddock", libraries });
    expect(config.mounts).toEqual(plain.mounts);
  });

  it("leaves a plain Node's command alone (this test's Node is not packed)", () => {
    expect(runningPacked()).toBe(false);
    const config = calfOciConfig(spec, { binary: "/usr/bin/node", libraries });
    expect(config.process.args).toEqual(["/usr/bin/node", "--jitless", "--no-expose-wasm", `--max-old-space-size=${calfHeapMiB(spec.memoryBytes)}`, "/calf/main.mjs"]);
    expect(config.process.env).toEqual(["HOME=/"]);
    const node = { args: ["/usr/bin/node", "--jitless", "/calf/main.mjs"], env: ["HOME=/"] };
    expect(calfCommandFor({ binary: process.execPath }, node)).toBe(node);
  });
});
