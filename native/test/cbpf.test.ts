import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { assemble, bpf, decode, encode, MAX_CLASSIC_INSNS, run, type Insn } from "../lib/cbpf.ts";

function program(src: Insn[]) {
  const r = assemble(src);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.program;
}

describe("classic BPF assembler", () => {
  it("resolves labels to forward offsets and encodes struct sock_filter", () => {
    const p = program([
      bpf.ld("h", 12),
      bpf.jeq(0x800, "next", "drop"),
      bpf.ret(0xffff),
      bpf.label("drop"),
      bpf.ret(0),
    ]);
    expect(p.insns).toEqual([
      { code: 0x28, jt: 0, jf: 0, k: 12 }, // ldh [12]
      { code: 0x15, jt: 0, jf: 1, k: 0x800 }, // jeq #0x800, +0, +1
      { code: 0x06, jt: 0, jf: 0, k: 0xffff }, // ret #0xffff
      { code: 0x06, jt: 0, jf: 0, k: 0 },
    ]);
    expect(p.bytes.length).toBe(32);
    // Little-endian host: code 0x0028, jt, jf, k = 12.
    expect(Array.from(p.bytes.subarray(0, 8))).toEqual([0x28, 0, 0, 0, 12, 0, 0, 0]);
    expect(decode(p.bytes)).toEqual(p.insns);
  });

  it("encodes the opcodes the kernel documents (filter.txt)", () => {
    const p = program([
      bpf.ldxMsh(14), // 0xb1
      bpf.ldInd("h", 16), // 0x48
      bpf.ld("b", 23), // 0x30
      bpf.ld("w", 0), // 0x20
      bpf.ldLen(), // 0x80
      bpf.alu("and", 0xf), // 0x54
      bpf.aluX("add"), // 0x0c
      bpf.jset(0x1fff, "next", "next"), // 0x45
      bpf.ja("end"), // 0x05
      bpf.tax(), // 0x07
      bpf.label("end"),
      bpf.retA(), // 0x16
    ]);
    expect(p.insns.map((i) => i.code)).toEqual([0xb1, 0x48, 0x30, 0x20, 0x80, 0x54, 0x0c, 0x45, 0x05, 0x07, 0x16]);
    expect(p.insns[8]!.k).toBe(1);
  });

  it("rejects invalid programs with typed errors", () => {
    expect(assemble([])).toEqual({ ok: false, error: { kind: "empty" } });
    expect(assemble([bpf.ld("h", 12)])).toMatchObject({ ok: false, error: { kind: "no_final_ret" } });
    expect(assemble([bpf.jeq(1, "nowhere", "next"), bpf.ret(0)])).toMatchObject({
      ok: false,
      error: { kind: "unknown_label", name: "nowhere" },
    });
    expect(assemble([bpf.label("a"), bpf.label("a"), bpf.ret(0)])).toMatchObject({ ok: false, error: { kind: "duplicate_label" } });
    // Backward jump: classic BPF has none, so every program terminates.
    expect(assemble([bpf.label("top"), bpf.ld("b", 0), bpf.jeq(1, "top", "next"), bpf.ret(0)])).toMatchObject({
      ok: false,
      error: { kind: "jump_out_of_range", name: "top" },
    });
    // A conditional jump further than 255 instructions does not fit its 8-bit offset.
    const far: Insn[] = [bpf.jeq(1, "far", "next"), ...Array.from({ length: 256 }, () => bpf.ldImm(0)), bpf.label("far"), bpf.ret(0)];
    expect(assemble(far)).toMatchObject({ ok: false, error: { kind: "jump_out_of_range", offset: 256 } });
    // ja has a 32-bit offset: the same distance is fine.
    expect(assemble([bpf.ja("far"), ...far.slice(1)]).ok).toBe(true);
    // A label at the end names no instruction.
    expect(assemble([bpf.jeq(1, "end", "next"), bpf.ret(0), bpf.label("end")])).toMatchObject({
      ok: false,
      error: { kind: "jump_out_of_range" },
    });
    expect(assemble([bpf.alu("div", 0), bpf.ret(0)])).toMatchObject({ ok: false, error: { kind: "bad_operand" } });
    expect(assemble([bpf.ld("w", -1), bpf.ret(0)])).toMatchObject({ ok: false, error: { kind: "bad_operand" } });
    expect(assemble([bpf.ret(2 ** 32)])).toMatchObject({ ok: false, error: { kind: "bad_operand" } });
    const long = Array.from({ length: MAX_CLASSIC_INSNS }, () => bpf.ldImm(0));
    expect(assemble([...long, bpf.ret(0)])).toMatchObject({ ok: false, error: { kind: "too_long" } });
  });

  it("interprets with kernel semantics: out-of-bounds loads drop, accept is capped at the frame", () => {
    const p = program([bpf.ld("w", 2), bpf.ret(100)]);
    expect(run(p.insns, new Uint8Array(6))).toEqual({ ok: true, accept: 6 });
    expect(run(p.insns, new Uint8Array(5))).toEqual({ ok: true, accept: 0 });
    const msh = program([bpf.ldxMsh(0), bpf.txa(), bpf.retA()]);
    expect(run(msh.insns, Uint8Array.of(0x46))).toEqual({ ok: true, accept: 1 });
    expect(run(msh.insns, Uint8Array.from({ length: 30 }, (_, i) => (i === 0 ? 0x46 : 0)))).toEqual({ ok: true, accept: 24 });
    const alu = program([bpf.ldImm(7), bpf.alu("lsh", 4), bpf.alu("or", 1), bpf.alu("sub", 0x72), bpf.retA()]);
    expect(run(alu.insns, new Uint8Array(1000))).toEqual({ ok: true, accept: 1000 }); // 0xffffffff capped
  });

  it("never throws: any instruction list assembles or yields a typed error; encode/decode round-trips", () => {
    const label = fc.constantFrom("a", "b", "c", "next");
    const insn: fc.Arbitrary<Insn> = fc.oneof(
      label.filter((l) => l !== "next").map((name) => bpf.label(name)),
      fc.tuple(fc.constantFrom("w", "h", "b" as const), fc.integer({ min: -2, max: 70 })).map(([s, k]) => bpf.ld(s, k)),
      fc.integer({ min: 0, max: 20 }).map((k) => bpf.ldxMsh(k)),
      fc.tuple(fc.integer({ min: 0, max: 0x1ffff }), label, label).map(([k, t, f]) => bpf.jeq(k, t, f)),
      fc.tuple(fc.constantFrom("add", "div", "lsh", "and" as const), fc.integer({ min: 0, max: 40 })).map(([fn, k]) => bpf.alu(fn, k)),
      label.map((t) => bpf.ja(t)),
      fc.integer({ min: 0, max: 2 ** 32 }).map((k) => bpf.ret(k)),
    );
    fc.assert(
      fc.property(fc.array(insn, { maxLength: 12 }), fc.uint8Array({ maxLength: 80 }), (src, frame) => {
        const r = assemble(src);
        if (!r.ok) return;
        expect(decode(encode(r.program.insns))).toEqual(r.program.insns);
        const out = run(r.program.insns, frame);
        // An assembled program always ends in a return and never runs off its end.
        expect(out.ok).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
