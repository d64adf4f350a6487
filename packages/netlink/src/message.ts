/**
 * Netlink framing (struct nlmsghdr) and the control messages: NLMSG_ERROR (errors and
 * acknowledgements, with the extended-ack TLVs), NLMSG_DONE (end of a dump), NLMSG_NOOP,
 * NLMSG_OVERRUN; and dispatch of rtnetlink payloads to the link/address/route codecs.
 *
 *   struct nlmsghdr { u32 nlmsg_len; u16 nlmsg_type; u16 nlmsg_flags; u32 nlmsg_seq; u32 nlmsg_pid; }
 *   struct nlmsgerr { s32 error; struct nlmsghdr msg; [payload of msg unless capped]; [TLVs] }
 *
 * One datagram holds one or more messages, each padded to 4 bytes (netlink(7)).
 */

import { align4, concatBytes, readS32, readU16, readU32, writeS32, writeU16, writeU32 } from "./bytes.ts";
import { decodeStringAttribute, encodeAttribute, encodeRawAttribute, parseAttributes, stringAttribute, u32Attribute } from "./attributes.ts";
import type { RawAttribute } from "./attributes.ts";
import {
  NLA_HDRLEN,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSGERR_ATTR_COOKIE,
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_SETLINK,
} from "./constants.ts";
import { type AddressMessage, decodeAddressMessage, encodeAddressMessage } from "./address.ts";
import { type LinkMessage, decodeLinkMessage, encodeLinkMessage } from "./link.ts";
import { type RouteMessage, decodeRouteMessage, encodeRouteMessage } from "./route.ts";
import { type Decoded, fail, ok } from "./result.ts";

/** struct nlmsghdr. */
export interface NlMsgHdr {
  /** nlmsg_len: header plus payload, without trailing padding. */
  readonly length: number;
  /** nlmsg_type: NLMSG_* or RTM_*. */
  readonly type: number;
  /** nlmsg_flags: NLM_F_*. */
  readonly flags: number;
  /** nlmsg_seq: chosen by the requester, echoed in replies. */
  readonly seq: number;
  /** nlmsg_pid: the sending port (0 from the kernel, or the requester's port in notifications). */
  readonly pid: number;
}

/** A framed message: its header and the payload bytes after it (a view into the datagram). */
export interface RawMessage {
  /** The decoded nlmsghdr. */
  readonly header: NlMsgHdr;
  /** nlmsg_len - 16 bytes after the header (padding excluded). */
  readonly payload: Uint8Array;
  /** Offset of the header in the datagram. */
  readonly offset: number;
}

/** The kernel's extended acknowledgement (enum nlmsgerr_attrs), present with NETLINK_EXT_ACK. */
export interface ExtendedAck {
  /** NLMSGERR_ATTR_MSG: e.g. "MTU greater than device maximum". */
  readonly message?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset, from the start of our request's header, of the bad attribute. */
  readonly offset?: number;
  /** NLMSGERR_ATTR_COOKIE. */
  readonly cookie?: Uint8Array;
  /** NLMSGERR_ATTR_MISS_TYPE: a required attribute the request lacked. */
  readonly missingType?: number;
  /** NLMSGERR_ATTR_MISS_NEST: offset of the nest that lacked it. */
  readonly missingNest?: number;
  /** Other TLVs (NLMSGERR_ATTR_POLICY, future ones). */
  readonly unknown: readonly RawAttribute[];
}

/** Every decoded message, discriminated by `kind`. */
export type NetlinkMessage =
  /** NLMSG_ERROR: `error` is 0 for an acknowledgement, else a negative errno. */
  | { readonly kind: "error"; readonly header: NlMsgHdr; readonly error: number; readonly request: NlMsgHdr; readonly extack: ExtendedAck }
  /** NLMSG_DONE: the end of a dump; `error` is the dump's status (0 or a negative errno). */
  | { readonly kind: "done"; readonly header: NlMsgHdr; readonly error: number; readonly extack: ExtendedAck }
  /** NLMSG_NOOP. */
  | { readonly kind: "noop"; readonly header: NlMsgHdr }
  /** NLMSG_OVERRUN: data was lost. */
  | { readonly kind: "overrun"; readonly header: NlMsgHdr }
  /** RTM_NEWLINK / DELLINK / GETLINK / SETLINK. */
  | { readonly kind: "link"; readonly header: NlMsgHdr; readonly link: LinkMessage }
  /** RTM_NEWADDR / DELADDR / GETADDR. */
  | { readonly kind: "address"; readonly header: NlMsgHdr; readonly address: AddressMessage }
  /** RTM_NEWROUTE / DELROUTE / GETROUTE. */
  | { readonly kind: "route"; readonly header: NlMsgHdr; readonly route: RouteMessage }
  /** Any other type: header and raw payload, kept. */
  | { readonly kind: "other"; readonly header: NlMsgHdr; readonly payload: Uint8Array };

/** sizeof(struct nlmsgerr): s32 error + the echoed nlmsghdr. */
export const NLMSGERR_LEN = 4 + NLMSG_HDRLEN;

/** Reads the 16-byte header at `off`; the caller has checked that 16 bytes exist. */
function readHeader(b: Uint8Array, off: number): NlMsgHdr {
  return {
    length: readU32(b, off),
    type: readU16(b, off + 4),
    flags: readU16(b, off + 6),
    seq: readU32(b, off + 8),
    pid: readU32(b, off + 12),
  };
}

/**
 * Splits a datagram into messages. Each step advances by at least NLMSG_HDRLEN (a nlmsg_len
 * below 16 is an error), so it terminates on any input.
 */
export function splitMessages(datagram: Uint8Array): Decoded<RawMessage[]> {
  const out: RawMessage[] = [];
  let off = 0;
  while (off < datagram.byteLength) {
    const remaining = datagram.byteLength - off;
    if (remaining < NLMSG_HDRLEN) {
      return fail(off === 0 ? "PADDOCK_E_NETLINK_TRUNCATED" : "PADDOCK_E_NETLINK_TRAILING_BYTES", `${remaining} bytes cannot hold a ${NLMSG_HDRLEN}-byte nlmsghdr`, off);
    }
    const header = readHeader(datagram, off);
    if (header.length < NLMSG_HDRLEN) {
      return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `nlmsg_len ${header.length} < ${NLMSG_HDRLEN}`, off);
    }
    if (header.length > remaining) {
      return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `nlmsg_len ${header.length} but only ${remaining} bytes remain`, off);
    }
    out.push({ header, payload: datagram.subarray(off + NLMSG_HDRLEN, off + header.length), offset: off });
    off = Math.min(datagram.byteLength, off + align4(header.length));
  }
  return ok(out);
}

/** Decodes extended-ack TLVs. */
function decodeExtack(tlvs: Uint8Array, base: number): Decoded<ExtendedAck> {
  const attrs = parseAttributes(tlvs, base);
  if (!attrs.ok) return attrs;
  const e: { -readonly [K in keyof ExtendedAck]: ExtendedAck[K] } = { unknown: [] };
  const unknown: RawAttribute[] = [];
  for (const a of attrs.value) {
    const at = base + (a.data.byteOffset - tlvs.byteOffset) - NLA_HDRLEN;
    switch (a.type) {
      case NLMSGERR_ATTR_MSG: {
        const s = decodeStringAttribute(a.data);
        if (s === undefined) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", "NLMSGERR_ATTR_MSG is not UTF-8", at);
        e.message = s;
        break;
      }
      case NLMSGERR_ATTR_OFFS:
      case NLMSGERR_ATTR_MISS_TYPE:
      case NLMSGERR_ATTR_MISS_NEST: {
        if (a.data.byteLength !== 4) return fail("PADDOCK_E_NETLINK_BAD_ATTRIBUTE", `extack u32 attribute ${a.type} has ${a.data.byteLength} bytes`, at);
        const v = readU32(a.data, 0);
        if (a.type === NLMSGERR_ATTR_OFFS) e.offset = v;
        else if (a.type === NLMSGERR_ATTR_MISS_TYPE) e.missingType = v;
        else e.missingNest = v;
        break;
      }
      case NLMSGERR_ATTR_COOKIE:
        e.cookie = a.data;
        break;
      default:
        unknown.push(a);
    }
  }
  e.unknown = unknown;
  return ok(e);
}

const NO_EXTACK: ExtendedAck = { unknown: [] };

/** Decodes one framed message by its type. */
export function decodeMessage(m: RawMessage): Decoded<NetlinkMessage> {
  const { header, payload } = m;
  const base = m.offset + NLMSG_HDRLEN;
  switch (header.type) {
    case NLMSG_ERROR: {
      if (payload.byteLength < NLMSGERR_LEN) {
        return fail("PADDOCK_E_NETLINK_TRUNCATED", `nlmsgerr needs ${NLMSGERR_LEN} bytes, have ${payload.byteLength}`, base);
      }
      const error = readS32(payload, 0);
      const request = readHeader(payload, 4);
      let extack = NO_EXTACK;
      if (header.flags & NLM_F_ACK_TLVS) {
        // Without NLM_F_CAPPED the kernel echoed the whole request, padded, before the TLVs.
        let start = NLMSGERR_LEN;
        if (!(header.flags & NLM_F_CAPPED)) {
          if (request.length < NLMSG_HDRLEN) {
            return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `echoed nlmsg_len ${request.length} < ${NLMSG_HDRLEN}`, base + 4);
          }
          start = 4 + align4(request.length);
        }
        if (start > payload.byteLength) {
          return fail("PADDOCK_E_NETLINK_BAD_LENGTH", `echoed request of ${request.length} bytes overruns the error message`, base + 4);
        }
        const e = decodeExtack(payload.subarray(start), base + start);
        if (!e.ok) return e;
        extack = e.value;
      }
      return ok({ kind: "error", header, error, request, extack });
    }
    case NLMSG_DONE: {
      // A DONE without the s32 status is tolerated (some families send an empty one).
      if (payload.byteLength === 0) return ok({ kind: "done", header, error: 0, extack: NO_EXTACK });
      if (payload.byteLength < 4) return fail("PADDOCK_E_NETLINK_TRUNCATED", `NLMSG_DONE status needs 4 bytes, have ${payload.byteLength}`, base);
      const error = readS32(payload, 0);
      let extack = NO_EXTACK;
      if (header.flags & NLM_F_ACK_TLVS) {
        const e = decodeExtack(payload.subarray(4), base + 4);
        if (!e.ok) return e;
        extack = e.value;
      }
      return ok({ kind: "done", header, error, extack });
    }
    case NLMSG_NOOP:
      return ok({ kind: "noop", header });
    case NLMSG_OVERRUN:
      return ok({ kind: "overrun", header });
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_GETLINK:
    case RTM_SETLINK: {
      const r = decodeLinkMessage(payload, base);
      return r.ok ? ok({ kind: "link", header, link: r.value }) : r;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_GETADDR: {
      const r = decodeAddressMessage(payload, base);
      return r.ok ? ok({ kind: "address", header, address: r.value }) : r;
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
    case RTM_GETROUTE: {
      const r = decodeRouteMessage(payload, base);
      return r.ok ? ok({ kind: "route", header, route: r.value }) : r;
    }
    default:
      return ok({ kind: "other", header, payload });
  }
}

/** Decodes a whole datagram; fails on the first message that does not decode. */
export function decodeDatagram(datagram: Uint8Array): Decoded<NetlinkMessage[]> {
  const split = splitMessages(datagram);
  if (!split.ok) return split;
  const out: NetlinkMessage[] = [];
  for (const raw of split.value) {
    const d = decodeMessage(raw);
    if (!d.ok) return d;
    out.push(d.value);
  }
  return ok(out);
}

/** The header fields a sender chooses; nlmsg_len is computed. */
export interface HeaderFields {
  /** nlmsg_type. */
  readonly type: number;
  /** nlmsg_flags. */
  readonly flags: number;
  /** nlmsg_seq. */
  readonly seq: number;
  /** nlmsg_pid (0 in requests: the kernel fills in our port). */
  readonly pid: number;
}

/** Frames a payload with an nlmsghdr (nlmsg_len = 16 + payload) and pads it to 4 bytes. */
export function encodeRawMessage(h: HeaderFields, payload: Uint8Array): Uint8Array {
  const len = NLMSG_HDRLEN + payload.byteLength;
  const out = new Uint8Array(align4(len));
  writeU32(out, 0, len);
  writeU16(out, 4, h.type);
  writeU16(out, 6, h.flags);
  writeU32(out, 8, h.seq);
  writeU32(out, 12, h.pid);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

function encodeExtack(e: ExtendedAck): Uint8Array {
  const parts: Uint8Array[] = [];
  if (e.message !== undefined) parts.push(stringAttribute(NLMSGERR_ATTR_MSG, e.message));
  if (e.offset !== undefined) parts.push(u32Attribute(NLMSGERR_ATTR_OFFS, e.offset));
  if (e.cookie !== undefined) parts.push(encodeAttribute(NLMSGERR_ATTR_COOKIE, e.cookie));
  if (e.missingType !== undefined) parts.push(u32Attribute(NLMSGERR_ATTR_MISS_TYPE, e.missingType));
  if (e.missingNest !== undefined) parts.push(u32Attribute(NLMSGERR_ATTR_MISS_NEST, e.missingNest));
  for (const a of e.unknown) parts.push(encodeRawAttribute(a));
  return concatBytes(parts);
}

function hasExtack(e: ExtendedAck): boolean {
  return e.message !== undefined || e.offset !== undefined || e.cookie !== undefined ||
    e.missingType !== undefined || e.missingNest !== undefined || e.unknown.length > 0;
}

/**
 * Encodes a message as the kernel would send it (used by tests and fake kernels). For "error",
 * the echoed request is capped to its header (NLM_F_CAPPED) unless `echoedPayload` is given;
 * NLM_F_ACK_TLVS is set when the extack has content, as the kernel does.
 */
export function encodeMessage(m: NetlinkMessage, echoedPayload?: Uint8Array): Uint8Array {
  const h = m.header;
  switch (m.kind) {
    case "error": {
      const tlvs = hasExtack(m.extack) ? encodeExtack(m.extack) : new Uint8Array(0);
      const head = new Uint8Array(NLMSGERR_LEN);
      writeS32(head, 0, m.error);
      const echoed = echoedPayload ?? new Uint8Array(0);
      const reqLen = echoedPayload === undefined ? m.request.length : NLMSG_HDRLEN + echoed.byteLength;
      writeU32(head, 4, reqLen);
      writeU16(head, 8, m.request.type);
      writeU16(head, 10, m.request.flags);
      writeU32(head, 12, m.request.seq);
      writeU32(head, 16, m.request.pid);
      const echo = new Uint8Array(align4(echoed.byteLength));
      echo.set(echoed);
      let flags = h.flags & ~(NLM_F_CAPPED | NLM_F_ACK_TLVS);
      if (echoedPayload === undefined) flags |= NLM_F_CAPPED;
      if (tlvs.byteLength > 0) flags |= NLM_F_ACK_TLVS;
      return encodeRawMessage({ ...h, flags }, concatBytes([head, echo, tlvs]));
    }
    case "done": {
      const tlvs = hasExtack(m.extack) ? encodeExtack(m.extack) : new Uint8Array(0);
      const status = new Uint8Array(4);
      writeS32(status, 0, m.error);
      const flags = (h.flags & ~NLM_F_ACK_TLVS) | (tlvs.byteLength > 0 ? NLM_F_ACK_TLVS : 0);
      return encodeRawMessage({ ...h, flags }, concatBytes([status, tlvs]));
    }
    case "noop":
    case "overrun":
      return encodeRawMessage(h, new Uint8Array(0));
    case "link":
      return encodeRawMessage(h, encodeLinkMessage(m.link));
    case "address":
      return encodeRawMessage(h, encodeAddressMessage(m.address));
    case "route":
      return encodeRawMessage(h, encodeRouteMessage(m.route));
    case "other":
      return encodeRawMessage(h, m.payload);
  }
}
