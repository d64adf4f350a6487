/**
 * Classic BPF (the socket filter language of Linux's filter.txt): typed instructions with
 * symbolic jump labels, an assembler that resolves and validates them and encodes the result
 * as `struct sock_filter[]` bytes for SO_ATTACH_FILTER, and a small interpreter with the
 * kernel's semantics for testing programs against crafted frames. Pure TypeScript, no I/O.
 */
import { endianness } from "node:os";

/** Load size: 4, 2 or 1 bytes, in network byte order. */
export type LoadSize = "w" | "h" | "b";
/** ALU operations on A (with K or X). */
export type AluOp = "add" | "sub" | "mul" | "div" | "mod" | "and" | "or" | "xor" | "lsh" | "rsh";
/** Conditional jumps comparing A with K or X. */
export type JumpCond = "jeq" | "jgt" | "jge" | "jset";
/** A jump target: a label defined later in the program, or "next" (fall through). */
export type Target = string;

/** One classic BPF instruction (a label is a pseudo-instruction naming the next one). */
export type Insn =
  | { op: "label"; name: string }
  | { op: "ld_abs"; size: LoadSize; k: number } // A = P[k:size]
  | { op: "ld_ind"; size: LoadSize; k: number } // A = P[X+k:size]
  | { op: "ld_len" } // A = frame length
  | { op: "ld_imm"; k: number } // A = k
  | { op: "ldx_imm"; k: number } // X = k
  | { op: "ldx_msh"; k: number } // X = 4 * (P[k] & 0xf): the IPv4 header length
  | { op: "alu"; fn: AluOp; src: "k"; k: number }
  | { op: "alu"; fn: AluOp; src: "x" }
  | { op: "neg" }
  | { op: "jmp"; cond: JumpCond; k: number; jt: Target; jf: Target }
  | { op: "ja"; target: Target }
  | { op: "tax" }
  | { op: "txa" }
  | { op: "ret_k"; k: number }
  | { op: "ret_a" };

// Opcode fields (include/uapi/linux/filter.h, bpf_common.h).
const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_MISC = 0x07;
const SIZE: Record<LoadSize, number> = { w: 0x00, h: 0x08, b: 0x10 };
const BPF_IMM = 0x00;
const BPF_ABS = 0x20;
const BPF_IND = 0x40;
const BPF_LEN = 0x80;
const BPF_MSH = 0xa0;
const ALU: Record<AluOp, number> = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  mod: 0x90,
  xor: 0xa0,
};
const BPF_NEG = 0x80;
const JMP: Record<JumpCond, number> = { jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40 };
const BPF_JA = 0x00;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_A = 0x10;
const BPF_TAX = 0x00;
const BPF_TXA = 0x80;

/** The kernel's limit on classic program length (BPF_MAXINSNS). */
export const MAX_CLASSIC_INSNS = 4096;
/** Bytes per encoded instruction: struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }. */
export const SOCK_FILTER_BYTES = 8;
/** Conditional jump offsets are 8-bit (forward only). */
const MAX_COND_OFFSET = 255;
/**
 * Loads at offsets from 0x80000000 down are the kernel's ancillary data and link-layer
 * extensions (SKF_AD_OFF, SKF_LL_OFF); plain packet offsets stay below.
 */
const MAX_PACKET_OFFSET = 0x7fffffff;

/** An encoded instruction (what the kernel sees). */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Why a program cannot be assembled. */
export type CbpfError =
  | { kind: "empty" }
  | { kind: "too_long"; count: number }
  | { kind: "duplicate_label"; name: string }
  | { kind: "unknown_label"; name: string; at: number }
  | { kind: "jump_out_of_range"; name: string; at: number; offset: number }
  | { kind: "no_final_ret"; at: number }
  | { kind: "bad_operand"; at: number; reason: string };

/** An assembled program: the encoded instructions and their bytes for SO_ATTACH_FILTER. */
export interface ClassicProgram {
  insns: SockFilter[];
  bytes: Uint8Array;
}

/** Result of assemble(): a program or a typed error (never an exception). */
export type AssembleResult = { ok: true; program: ClassicProgram } | { ok: false; error: CbpfError };

const isU32 = (k: number): boolean => Number.isInteger(k) && k >= 0 && k <= 0xffffffff;

function operandError(insn: Insn): string | undefined {
  switch (insn.op) {
    case "ld_abs":
    case "ld_ind":
    case "ldx_msh":
      return Number.isInteger(insn.k) && insn.k >= 0 && insn.k <= MAX_PACKET_OFFSET
        ? undefined
        : "packet offset must be 0..2^31-1 (ancillary loads are not supported)";
    case "ld_imm":
    case "ldx_imm":
    case "ret_k":
    case "jmp":
      return isU32(insn.k) ? undefined : "k must be a 32-bit unsigned integer";
    case "alu":
      if (insn.src === "x") return undefined;
      if (!isU32(insn.k)) return "k must be a 32-bit unsigned integer";
      if ((insn.fn === "div" || insn.fn === "mod") && insn.k === 0) return "division by constant zero";
      if ((insn.fn === "lsh" || insn.fn === "rsh") && insn.k >= 32) return "shift by 32 or more";
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Assembles a program: resolves labels to forward offsets (classic BPF has no backward
 * jumps, so every program terminates), checks offsets fit (8 bits for conditional jumps),
 * that the last instruction is a return, and operand ranges. Total: returns a typed error.
 */
export function assemble(source: readonly Insn[]): AssembleResult {
  const labels = new Map<string, number>();
  const real: Insn[] = [];
  for (const insn of source) {
    if (insn.op === "label") {
      if (labels.has(insn.name) || insn.name === "next") return { ok: false, error: { kind: "duplicate_label", name: insn.name } };
      labels.set(insn.name, real.length);
    } else {
      real.push(insn);
    }
  }
  if (real.length === 0) return { ok: false, error: { kind: "empty" } };
  if (real.length > MAX_CLASSIC_INSNS) return { ok: false, error: { kind: "too_long", count: real.length } };
  const last = real[real.length - 1]!;
  if (last.op !== "ret_k" && last.op !== "ret_a") return { ok: false, error: { kind: "no_final_ret", at: real.length - 1 } };

  const resolve = (name: Target, at: number, max: number): number | CbpfError => {
    if (name === "next") return 0;
    const target = labels.get(name);
    if (target === undefined) return { kind: "unknown_label", name, at };
    const offset = target - (at + 1);
    // A label at the very end names no instruction; a backward or overlong jump is invalid.
    if (offset < 0 || offset > max || target >= real.length) return { kind: "jump_out_of_range", name, at, offset };
    return offset;
  };

  const insns: SockFilter[] = [];
  for (let at = 0; at < real.length; at++) {
    const insn = real[at]!;
    const bad = operandError(insn);
    if (bad !== undefined) return { ok: false, error: { kind: "bad_operand", at, reason: bad } };
    let enc: SockFilter;
    switch (insn.op) {
      case "ld_abs":
        enc = { code: BPF_LD | SIZE[insn.size] | BPF_ABS, jt: 0, jf: 0, k: insn.k };
        break;
      case "ld_ind":
        enc = { code: BPF_LD | SIZE[insn.size] | BPF_IND, jt: 0, jf: 0, k: insn.k };
        break;
      case "ld_len":
        enc = { code: BPF_LD | SIZE.w | BPF_LEN, jt: 0, jf: 0, k: 0 };
        break;
      case "ld_imm":
        enc = { code: BPF_LD | SIZE.w | BPF_IMM, jt: 0, jf: 0, k: insn.k };
        break;
      case "ldx_imm":
        enc = { code: BPF_LDX | SIZE.w | BPF_IMM, jt: 0, jf: 0, k: insn.k };
        break;
      case "ldx_msh":
        enc = { code: BPF_LDX | SIZE.b | BPF_MSH, jt: 0, jf: 0, k: insn.k };
        break;
      case "alu":
        enc =
          insn.src === "k"
            ? { code: BPF_ALU | ALU[insn.fn] | BPF_K, jt: 0, jf: 0, k: insn.k }
            : { code: BPF_ALU | ALU[insn.fn] | BPF_X, jt: 0, jf: 0, k: 0 };
        break;
      case "neg":
        enc = { code: BPF_ALU | BPF_NEG, jt: 0, jf: 0, k: 0 };
        break;
      case "jmp": {
        const jt = resolve(insn.jt, at, MAX_COND_OFFSET);
        if (typeof jt !== "number") return { ok: false, error: jt };
        const jf = resolve(insn.jf, at, MAX_COND_OFFSET);
        if (typeof jf !== "number") return { ok: false, error: jf };
        enc = { code: BPF_JMP | JMP[insn.cond] | BPF_K, jt, jf, k: insn.k };
        break;
      }
      case "ja": {
        const k = resolve(insn.target, at, MAX_CLASSIC_INSNS);
        if (typeof k !== "number") return { ok: false, error: k };
        enc = { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k };
        break;
      }
      case "tax":
        enc = { code: BPF_MISC | BPF_TAX, jt: 0, jf: 0, k: 0 };
        break;
      case "txa":
        enc = { code: BPF_MISC | BPF_TXA, jt: 0, jf: 0, k: 0 };
        break;
      case "ret_k":
        enc = { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: insn.k };
        break;
      case "ret_a":
        enc = { code: BPF_RET | BPF_A, jt: 0, jf: 0, k: 0 };
        break;
      case "label":
        throw new Error("unreachable: labels were removed above");
    }
    insns.push(enc);
  }
  return { ok: true, program: { insns, bytes: encode(insns) } };
}

/** Encodes instructions as struct sock_filter[] in host byte order (what setsockopt reads). */
export function encode(insns: readonly SockFilter[]): Uint8Array {
  const le = endianness() === "LE";
  const bytes = new Uint8Array(insns.length * SOCK_FILTER_BYTES);
  const view = new DataView(bytes.buffer);
  insns.forEach((i, n) => {
    const o = n * SOCK_FILTER_BYTES;
    view.setUint16(o, i.code, le);
    view.setUint8(o + 2, i.jt);
    view.setUint8(o + 3, i.jf);
    view.setUint32(o + 4, i.k >>> 0, le);
  });
  return bytes;
}

/** Decodes struct sock_filter[] bytes; undefined if the length is not a whole number of them. */
export function decode(bytes: Uint8Array): SockFilter[] | undefined {
  if (bytes.length % SOCK_FILTER_BYTES !== 0) return undefined;
  const le = endianness() === "LE";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let o = 0; o < bytes.length; o += SOCK_FILTER_BYTES) {
    out.push({ code: view.getUint16(o, le), jt: view.getUint8(o + 2), jf: view.getUint8(o + 3), k: view.getUint32(o + 4, le) });
  }
  return out;
}

/** Outcome of running a program: bytes to accept (0 = drop), or an invalid program. */
export type RunResult = { ok: true; accept: number } | { ok: false; reason: string };

/**
 * Runs encoded instructions over a frame with the kernel's classic BPF semantics: a load
 * outside the frame, division by zero in X, or running off the end drops (returns 0 from
 * the filter); the accepted length is min(return value, frame length). For tests.
 */
export function run(insns: readonly SockFilter[], frame: Uint8Array): RunResult {
  let a = 0;
  let x = 0;
  const load = (off: number, size: number): number | undefined => {
    if (off < 0 || off + size > frame.length) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + frame[off + i]!;
    return v >>> 0;
  };
  const sizeOf = (code: number): number => ({ 0x00: 4, 0x08: 2, 0x10: 1 })[code & 0x18] ?? 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    const cls = code & 0x07;
    switch (cls) {
      case BPF_LD: {
        const mode = code & 0xe0;
        if (mode === BPF_IMM) a = k;
        else if (mode === BPF_LEN) a = frame.length;
        else if (mode === BPF_ABS || mode === BPF_IND) {
          const v = load(mode === BPF_ABS ? k : (x + k) >>> 0, sizeOf(code));
          if (v === undefined) return { ok: true, accept: 0 };
          a = v;
        } else return { ok: false, reason: `unsupported ld mode at ${pc}` };
        break;
      }
      case BPF_LDX: {
        const mode = code & 0xe0;
        if (mode === BPF_IMM) x = k;
        else if (mode === BPF_LEN) x = frame.length;
        else if (mode === BPF_MSH) {
          const v = load(k, 1);
          if (v === undefined) return { ok: true, accept: 0 };
          x = (v & 0x0f) * 4;
        } else return { ok: false, reason: `unsupported ldx mode at ${pc}` };
        break;
      }
      case BPF_ALU: {
        const op = code & 0xf0;
        const src = code & 0x08 ? x : k;
        switch (op) {
          case ALU.add: a = (a + src) >>> 0; break;
          case ALU.sub: a = (a - src) >>> 0; break;
          case ALU.mul: a = Math.imul(a, src) >>> 0; break;
          case ALU.div: if (src === 0) return { ok: true, accept: 0 }; a = Math.floor(a / src) >>> 0; break;
          case ALU.mod: if (src === 0) return { ok: true, accept: 0 }; a = a % src >>> 0; break;
          case ALU.and: a = (a & src) >>> 0; break;
          case ALU.or: a = (a | src) >>> 0; break;
          case ALU.xor: a = (a ^ src) >>> 0; break;
          case ALU.lsh: a = src >= 32 ? 0 : (a << src) >>> 0; break;
          case ALU.rsh: a = src >= 32 ? 0 : a >>> src; break;
          case BPF_NEG: a = -a >>> 0; break;
          default: return { ok: false, reason: `unsupported alu op at ${pc}` };
        }
        break;
      }
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const src = code & 0x08 ? x : k;
        let taken: boolean;
        if (op === JMP.jeq) taken = a === src;
        else if (op === JMP.jgt) taken = a > src;
        else if (op === JMP.jge) taken = a >= src;
        else if (op === JMP.jset) taken = (a & src) !== 0;
        else return { ok: false, reason: `unsupported jump at ${pc}` };
        pc += taken ? jt : jf;
        break;
      }
      case BPF_RET: {
        const v = (code & 0x18) === BPF_A ? a : (code & 0x18) === BPF_X ? x : k;
        return { ok: true, accept: Math.min(v, frame.length) };
      }
      case BPF_MISC:
        if ((code & 0xf8) === BPF_TAX) x = a;
        else if ((code & 0xf8) === BPF_TXA) a = x;
        else return { ok: false, reason: `unsupported misc op at ${pc}` };
        break;
      default:
        return { ok: false, reason: `unsupported class at ${pc}` };
    }
  }
  // The kernel's checker refuses such programs; falling off the end is an invalid program.
  return { ok: false, reason: "ran past the last instruction" };
}

/** Instruction constructors, so programs read like the assembly in filter.txt. */
export const bpf = {
  label: (name: string): Insn => ({ op: "label", name }),
  ld: (size: LoadSize, k: number): Insn => ({ op: "ld_abs", size, k }),
  ldInd: (size: LoadSize, k: number): Insn => ({ op: "ld_ind", size, k }),
  ldLen: (): Insn => ({ op: "ld_len" }),
  ldImm: (k: number): Insn => ({ op: "ld_imm", k }),
  ldxImm: (k: number): Insn => ({ op: "ldx_imm", k }),
  ldxMsh: (k: number): Insn => ({ op: "ldx_msh", k }),
  alu: (fn: AluOp, k: number): Insn => ({ op: "alu", fn, src: "k", k }),
  aluX: (fn: AluOp): Insn => ({ op: "alu", fn, src: "x" }),
  jeq: (k: number, jt: Target, jf: Target): Insn => ({ op: "jmp", cond: "jeq", k, jt, jf }),
  jgt: (k: number, jt: Target, jf: Target): Insn => ({ op: "jmp", cond: "jgt", k, jt, jf }),
  jge: (k: number, jt: Target, jf: Target): Insn => ({ op: "jmp", cond: "jge", k, jt, jf }),
  jset: (k: number, jt: Target, jf: Target): Insn => ({ op: "jmp", cond: "jset", k, jt, jf }),
  ja: (target: Target): Insn => ({ op: "ja", target }),
  tax: (): Insn => ({ op: "tax" }),
  txa: (): Insn => ({ op: "txa" }),
  ret: (k: number): Insn => ({ op: "ret_k", k }),
  retA: (): Insn => ({ op: "ret_a" }),
} as const;
