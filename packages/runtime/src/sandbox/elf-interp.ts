/**
 * The ELF interpreter (PT_INTERP) of a dynamically linked binary: the dynamic loader that lists
 * the binary's libraries (`LOADER --list BINARY`) with one exec, where `ldd` is a shell script that
 * runs the loader three times (--version, --verify, then the trace): ~10 ms against 60–110 ms on
 * a loaded 2-core host, paid by every calf start whose runtime directory holds no cached list (the
 * first after a boot, since /run is a tmpfs; docs/performance.md, "Priv start-up").
 *
 * Layout from the System V ABI (ELF-64, little-endian, the only kind this runs on): e_phoff at
 * byte 32, e_phentsize at 54, e_phnum at 56; a program header's p_type at 0, p_offset at 8,
 * p_filesz at 32. PT_INTERP is type 3, its segment the loader's path with a trailing NUL.
 */
import { closeSync, openSync, readSync } from "node:fs";

/** PT_INTERP, the program header naming the interpreter. */
const PT_INTERP = 3;
/** Bytes read from the start of the binary: headers and the interpreter's path sit in the first page. */
const ELF_HEAD_BYTES = 4096;
/** A path longer than this is not a loader's (Linux PATH_MAX). */
const MAX_INTERP_BYTES = 4096;

/**
 * The interpreter the binary names, or undefined when it names none (a static binary) or is not
 * an ELF-64 little-endian file this reads (the caller falls back to ldd). Never throws.
 */
export function elfInterpreter(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(ELF_HEAD_BYTES);
    const n = readSync(fd, head, 0, head.length, 0);
    // \x7fELF, ELFCLASS64 (2), ELFDATA2LSB (1).
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    if (phentsize < 56 || phoff + phentsize * phnum > n) return undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (head.readUInt32LE(ph) !== PT_INTERP) continue;
      const offset = Number(head.readBigUInt64LE(ph + 8));
      const size = Number(head.readBigUInt64LE(ph + 32));
      if (size < 2 || size > MAX_INTERP_BYTES) return undefined;
      const interp = Buffer.alloc(size);
      if (readSync(fd, interp, 0, size, offset) !== size || interp[size - 1] !== 0) return undefined;
      const p = interp.toString("utf8", 0, size - 1);
      return p.startsWith("/") && !p.includes("\0") ? p : undefined;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
