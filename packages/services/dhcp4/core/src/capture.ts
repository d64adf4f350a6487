/**
 * A reader for capture files: classic pcap (both byte orders, microsecond and nanosecond
 * timestamps) and pcapng (SHB, IDB, EPB, SPB and the obsolete PB; other blocks skipped; several
 * sections, each with its own byte order). Total: a file that is not a capture, or whose
 * structure is inconsistent, yields a typed error; a file cut short (tcpdump killed mid-write)
 * yields the packets before the cut plus the error for the tail.
 *
 * Formats: pcap per draft-ietf-opsawg-pcap, pcapng per draft-ietf-opsawg-pcapng.
 */

import { plainBytes } from "./bytes.ts";
import { DhcpErrorCode, fail, ok, type DhcpError, type DhcpResult } from "./result.ts";

/** Link types (tcpdump.org/linktypes.html) the DHCP decoder understands. */
export const LinkType = {
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  LINUX_SLL2: 276,
} as const;

/** One captured packet. */
export interface CapturedPacket {
  /** The interface's link type (a pcap file has one for all packets). */
  linkType: number;
  /** Seconds since the epoch (fractional, as precise as a double allows); NaN for a pcapng
   *  simple packet block, which carries no time. */
  timestamp: number;
  /** The captured bytes (possibly fewer than were on the wire: see `originalLength`). */
  data: Uint8Array;
  originalLength: number;
}

/** A capture file's packets, in file order. */
export interface Capture {
  format: "pcap" | "pcapng";
  packets: CapturedPacket[];
  /** Set when the file ends inside a record or block: the packets before it are still returned. */
  truncated?: DhcpError;
}

/**
 * Largest record or block accepted: 16 MiB. pcapng's own readers cap blocks at 16 MiB too; a
 * larger length field is corruption, and refusing it keeps a hostile file from asking for more.
 */
export const MAX_CAPTURE_BLOCK_BYTES = 16 * 1024 * 1024;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_PB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
/** Block type, total length, …, total length: the smallest block is 12 bytes. */
const PCAPNG_MIN_BLOCK_BYTES = 12;
const IF_TSRESOL = 9;

function reader(bytes: Uint8Array, little: boolean) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    u16: (at: number) => view.getUint16(at, little),
    u32: (at: number) => view.getUint32(at, little),
  };
}

/** Reads a pcap or pcapng file. */
export function readCapture(input: Uint8Array): DhcpResult<Capture> {
  const bytes = plainBytes(input);
  if (bytes.length < 4) return fail(DhcpErrorCode.NOT_A_CAPTURE, `file of ${bytes.length} bytes is too short to be a capture`);
  const be = reader(bytes, false).u32(0);
  const le = reader(bytes, true).u32(0);
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return readPcap(bytes, false, be === PCAP_MAGIC_NS);
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) return readPcap(bytes, true, le === PCAP_MAGIC_NS);
  if (be === PCAPNG_SHB) return readPcapng(bytes);
  return fail(DhcpErrorCode.NOT_A_CAPTURE, "file starts with neither a pcap nor a pcapng magic number");
}

function readPcap(bytes: Uint8Array, little: boolean, nanos: boolean): DhcpResult<Capture> {
  if (bytes.length < PCAP_HEADER_BYTES) {
    return fail(DhcpErrorCode.NOT_A_CAPTURE, `pcap file header needs ${PCAP_HEADER_BYTES} bytes, file has ${bytes.length}`);
  }
  const r = reader(bytes, little);
  // The link type is the low 16 bits; the upper bits hold the FCS length flags (pcap draft §4).
  const linkType = r.u32(20) & 0xffff;
  const capture: Capture = { format: "pcap", packets: [] };
  const divisor = nanos ? 1e9 : 1e6;
  let pos = PCAP_HEADER_BYTES;
  while (pos < bytes.length) {
    if (pos + PCAP_RECORD_HEADER_BYTES > bytes.length) {
      capture.truncated = { code: DhcpErrorCode.TRUNCATED, detail: `pcap record header at byte ${pos} is cut short` };
      break;
    }
    const inclLen = r.u32(pos + 8);
    if (inclLen > MAX_CAPTURE_BLOCK_BYTES) {
      return fail(DhcpErrorCode.BAD_CAPTURE, `pcap record at byte ${pos} claims ${inclLen} bytes`);
    }
    const start = pos + PCAP_RECORD_HEADER_BYTES;
    if (start + inclLen > bytes.length) {
      capture.truncated = { code: DhcpErrorCode.TRUNCATED, detail: `pcap record at byte ${pos} is cut short` };
      break;
    }
    capture.packets.push({
      linkType,
      timestamp: r.u32(pos) + r.u32(pos + 4) / divisor,
      data: bytes.subarray(start, start + inclLen),
      originalLength: r.u32(pos + 12),
    });
    pos = start + inclLen;
  }
  return ok(capture);
}

interface Interface {
  linkType: number;
  /** Timestamp units per second. */
  unitsPerSecond: number;
}

/** if_tsresol (pcapng draft §4.2): high bit clear = power of 10, set = power of 2. */
function readTsresol(bytes: Uint8Array, little: boolean, start: number, end: number): number {
  const r = reader(bytes, little);
  let pos = start;
  while (pos + 4 <= end) {
    const code = r.u16(pos);
    const len = r.u16(pos + 2);
    if (code === 0) break;
    if (pos + 4 + len > end) break;
    if (code === IF_TSRESOL && len >= 1) {
      const v = bytes[pos + 4] as number;
      const exp = v & 0x7f;
      return v & 0x80 ? 2 ** exp : 10 ** exp;
    }
    pos += 4 + ((len + 3) & ~3);
  }
  return 1e6;
}

function readPcapng(bytes: Uint8Array): DhcpResult<Capture> {
  const capture: Capture = { format: "pcapng", packets: [] };
  let little = true;
  let interfaces: Interface[] = [];
  let pos = 0;
  let first = true;
  while (pos < bytes.length) {
    if (pos + PCAPNG_MIN_BLOCK_BYTES > bytes.length) {
      capture.truncated = { code: DhcpErrorCode.TRUNCATED, detail: `pcapng block at byte ${pos} is cut short` };
      break;
    }
    let r = reader(bytes, little);
    const type = r.u32(pos);
    if (type === PCAPNG_SHB) {
      // The byte-order magic decides how this section, including the SHB's own length, reads.
      const bom = reader(bytes, true).u32(pos + 8);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) little = true;
      else if (reader(bytes, false).u32(pos + 8) === PCAPNG_BYTE_ORDER_MAGIC) little = false;
      else return fail(first ? DhcpErrorCode.NOT_A_CAPTURE : DhcpErrorCode.BAD_CAPTURE, `pcapng section at byte ${pos} has no byte-order magic`);
      r = reader(bytes, little);
      interfaces = [];
    } else if (first) {
      return fail(DhcpErrorCode.NOT_A_CAPTURE, "pcapng file does not start with a section header block");
    }
    first = false;
    const length = r.u32(pos + 4);
    if (length < PCAPNG_MIN_BLOCK_BYTES || length % 4 !== 0 || length > MAX_CAPTURE_BLOCK_BYTES) {
      return fail(DhcpErrorCode.BAD_CAPTURE, `pcapng block at byte ${pos} has length ${length}`);
    }
    if (pos + length > bytes.length) {
      capture.truncated = { code: DhcpErrorCode.TRUNCATED, detail: `pcapng block at byte ${pos} is cut short` };
      break;
    }
    if (r.u32(pos + length - 4) !== length) {
      return fail(DhcpErrorCode.BAD_CAPTURE, `pcapng block at byte ${pos}: trailing length differs from leading length`);
    }
    const body = pos + 8;
    const bodyEnd = pos + length - 4;
    if (type === PCAPNG_IDB) {
      if (bodyEnd - body < 8) return fail(DhcpErrorCode.BAD_CAPTURE, `interface block at byte ${pos} is too short`);
      interfaces.push({ linkType: r.u16(body), unitsPerSecond: readTsresol(bytes, little, body + 8, bodyEnd) });
    } else if (type === PCAPNG_EPB || type === PCAPNG_PB) {
      if (bodyEnd - body < 20) return fail(DhcpErrorCode.BAD_CAPTURE, `packet block at byte ${pos} is too short`);
      const ifIndex = type === PCAPNG_EPB ? r.u32(body) : r.u16(body);
      const iface = interfaces[ifIndex];
      if (iface === undefined) {
        return fail(DhcpErrorCode.BAD_CAPTURE, `packet block at byte ${pos} names interface ${ifIndex}, which is not defined`);
      }
      const capLen = r.u32(body + 12);
      if (capLen > bodyEnd - body - 20) {
        return fail(DhcpErrorCode.BAD_CAPTURE, `packet block at byte ${pos} claims ${capLen} captured bytes`);
      }
      const units = r.u32(body + 4) * 2 ** 32 + r.u32(body + 8);
      capture.packets.push({
        linkType: iface.linkType,
        timestamp: units / iface.unitsPerSecond,
        data: bytes.subarray(body + 20, body + 20 + capLen),
        originalLength: r.u32(body + 16),
      });
    } else if (type === PCAPNG_SPB) {
      if (bodyEnd - body < 4) return fail(DhcpErrorCode.BAD_CAPTURE, `simple packet block at byte ${pos} is too short`);
      const iface = interfaces[0];
      if (iface === undefined) return fail(DhcpErrorCode.BAD_CAPTURE, `simple packet block at byte ${pos} before any interface`);
      const origLen = r.u32(body);
      // pcapng draft §4.4: the captured length is the smaller of the original length and the room.
      const capLen = Math.min(origLen, bodyEnd - body - 4);
      capture.packets.push({
        linkType: iface.linkType,
        timestamp: Number.NaN,
        data: bytes.subarray(body + 4, body + 4 + capLen),
        originalLength: origLen,
      });
    }
    pos += length;
  }
  return ok(capture);
}
