/**
 * The DHCPv6 client/server message (RFC 8415 §8): msg-type, 3-byte transaction-id, options.
 * `decodeDhcp6Message` is total: any bytes give a typed message or a typed error, it never throws,
 * and bounds every loop and every level of nesting. Relay messages (§9) are not a client's and
 * are refused with BAD_MESSAGE_TYPE.
 */

import { isUint, pushUint } from "./bytes.ts";
import { MAX_MESSAGE_BYTES, MESSAGE_TYPE_NAMES, type MessageType } from "./constants.ts";
import { decodeOptions, encodeOptions, type Dhcp6Option } from "./options.ts";
import { Dhcp6ErrorCode, fail, ok, type Dhcp6Result } from "./result.ts";

/** A decoded DHCPv6 message. */
export interface Dhcp6Message {
  type: MessageType;
  /** The 24-bit transaction id (RFC 8415 §8). */
  transactionId: number;
  options: Dhcp6Option[];
}

/** RFC 8415 §8: msg-type (1 byte) and transaction-id (3 bytes). */
export const HEADER_BYTES = 4;

/** Decodes a UDP payload as a DHCPv6 client/server message. */
export function decodeDhcp6Message(bytes: Uint8Array): Dhcp6Result<Dhcp6Message> {
  if (bytes.length < HEADER_BYTES) return fail(Dhcp6ErrorCode.TRUNCATED, `a DHCPv6 message of ${bytes.length} bytes is shorter than its 4-byte header`);
  if (bytes.length > MAX_MESSAGE_BYTES) return fail(Dhcp6ErrorCode.TOO_LONG, `a DHCPv6 message of ${bytes.length} bytes is longer than a UDP datagram can be (${MAX_MESSAGE_BYTES})`);
  const type = bytes[0] as number;
  if (!(type in MESSAGE_TYPE_NAMES)) {
    return fail(Dhcp6ErrorCode.BAD_MESSAGE_TYPE, type === 12 || type === 13 ? `message type ${type} is a relay message, which a client never receives` : `message type ${type} is not one a DHCPv6 client knows`);
  }
  const options = decodeOptions(bytes.subarray(HEADER_BYTES));
  if (!options.ok) return options;
  return ok({ type: type as MessageType, transactionId: ((bytes[1] as number) << 16) | ((bytes[2] as number) << 8) | (bytes[3] as number), options: options.value });
}

/**
 * The wire form of a message. Whatever this returns, `decodeDhcp6Message` accepts (the bounds are
 * checked both ways), so a client never sends what it would itself refuse.
 */
export function encodeDhcp6Message(message: Dhcp6Message): Dhcp6Result<Uint8Array> {
  if (!(message.type in MESSAGE_TYPE_NAMES)) return fail(Dhcp6ErrorCode.UNENCODABLE, `message type ${message.type} is not one this codec encodes`);
  if (!isUint(message.transactionId, 24)) return fail(Dhcp6ErrorCode.UNENCODABLE, `transaction id ${message.transactionId} does not fit 24 bits`);
  const out: number[] = [message.type];
  pushUint(out, message.transactionId, 3);
  const encoded = encodeOptions(message.options, out);
  if (!encoded.ok) return encoded;
  const bytes = Uint8Array.from(out);
  const back = decodeDhcp6Message(bytes);
  if (!back.ok) return fail(Dhcp6ErrorCode.UNENCODABLE, `the message would not decode: ${back.error.detail}`);
  return ok(bytes);
}
