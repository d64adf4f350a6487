import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

import { bpfObjectPath, EGRESS_PROGRAM_NAME } from "@paddock/native";

import { addon, type RawBpfObject } from "../lib/addon.ts";
import { frameKit, mac, nearMissFrame } from "./frames.ts";
import { canRunAsRoot, skipReason } from "./netns.ts";

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const MARK = 0x5add;

/** The egress pattern, written independently of the C program: a BOOTREQUEST from 68 to 67. */
function isBootRequest(f: Uint8Array): boolean {
  if (f.length < 14 + 20 || f[12] !== 0x08 || f[13] !== 0x00) return false;
  if (f[14]! >> 4 !== 4) return false;
  const ihl = (f[14]! & 0x0f) * 4;
  if (ihl < 20 || f[23] !== 17) return false;
  if ((((f[20]! << 8) | f[21]!) & 0x3fff) !== 0) return false;
  const u = 14 + ihl;
  if (f.length < u + 9) return false;
  return ((f[u]! << 8) | f[u + 1]!) === 68 && ((f[u + 2]! << 8) | f[u + 3]!) === 67 && f[u + 8] === 1;
}

describe.skipIf(!canRunAsRoot)(`tc egress program, run by the kernel (BPF_PROG_TEST_RUN) (${skipReason})`, () => {
  let obj: RawBpfObject | undefined;
  afterAll(() => obj?.close());

  function load(mark: number): RawBpfObject {
    obj?.close();
    obj = new (addon().BpfObject)(bpfObjectPath("egress_policy"));
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, mark, true);
    obj.mapUpdate("egress_config", new Uint8Array(4), v);
    return obj;
  }

  it("passes marked BOOTREQUESTs and unmarked frames, drops other marked frames", () => {
    const o = load(MARK);
    const kit = frameKit(mac("02:00:00:00:00:02"));
    const verdict = (f: Uint8Array, m: number) => o.testRun(EGRESS_PROGRAM_NAME, f, m);
    expect(verdict(kit.dhcpRequest(1), MARK)).toBe(TC_ACT_OK);
    expect(verdict(kit.udp(68, 67), MARK)).toBe(TC_ACT_SHOT); // op 2
    expect(verdict(kit.udp(5000, 67), MARK)).toBe(TC_ACT_SHOT);
    expect(verdict(kit.tcp(68, 67), MARK)).toBe(TC_ACT_SHOT);
    expect(verdict(kit.arpRequest(), MARK)).toBe(TC_ACT_SHOT);
    expect(verdict(kit.udp(5000, 6000), MARK + 1)).toBe(TC_ACT_OK);
    expect(verdict(kit.udp(5000, 6000), 0)).toBe(TC_ACT_OK);
    // Unconfigured (mark 0 in the config map): nothing is policed.
    const unset = load(0);
    expect(unset.testRun(EGRESS_PROGRAM_NAME, kit.udp(5000, 6000), 0)).toBe(TC_ACT_OK);
  });

  it("property: the verdict matches the specification on structured random frames", () => {
    const o = load(MARK);
    let allowed = 0;
    const frame = fc
      .record({
        ethertype: fc.oneof({ arbitrary: fc.constant(0x0800), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
        versionIhl: fc.oneof({ arbitrary: fc.constantFrom(0x45, 0x46, 0x4f, 0x44), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
        flagsFragment: fc.oneof({ arbitrary: fc.constantFrom(0, 0x4000, 0x2000, 0x0001), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
        protocol: fc.oneof({ arbitrary: fc.constant(17), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
        sport: fc.oneof({ arbitrary: fc.constantFrom(68, 68, 68, 67), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
        dport: fc.oneof({ arbitrary: fc.constantFrom(67, 67, 67, 68), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 }),
        op: fc.oneof({ arbitrary: fc.constantFrom(1, 1, 1, 2), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
        // BPF_PROG_TEST_RUN refuses an IPv4-typed frame shorter than Ethernet + IPv4 headers (34
        // bytes); shorter frames are covered by the program's bounded loads failing closed.
        cut: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.integer({ min: 34, max: 120 }), weight: 1 }),
        mark: fc.constantFrom(MARK, MARK, MARK, 0, MARK + 1),
        noise: fc.uint8Array({ minLength: 40, maxLength: 40 }),
      })
      .map((r) => {
        const f = nearMissFrame(r, 240);
        return { frame: r.cut === 0 ? f : f.subarray(0, r.cut), mark: r.mark };
      });
    fc.assert(
      fc.property(frame, ({ frame: f, mark }) => {
        const want = mark !== MARK || isBootRequest(f) ? TC_ACT_OK : TC_ACT_SHOT;
        if (mark === MARK && want === TC_ACT_OK) allowed++;
        expect(o.testRun(EGRESS_PROGRAM_NAME, f, mark)).toBe(want);
      }),
      { numRuns: 2000 },
    );
    // Both verdicts for marked frames must be exercised, or the property proves little.
    expect(allowed).toBeGreaterThan(20);
    const c = o.mapLookup("egress_counters", new Uint8Array(4));
    expect(c.readBigUInt64LE(0)).toBe(BigInt(allowed));
  });
});
