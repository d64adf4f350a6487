/**
 * Limits of the wire protocol. Each is checked on the framing header, before a byte of the message
 * reaches the Cap'n Proto decoder, so a hostile peer cannot make the decoder allocate or walk.
 */

/** Cap'n Proto words are 8 bytes. */
export const WORD_BYTES = 8;

/**
 * Segments per message. Our encoder always writes one segment; the reference C++ implementation
 * may split a large message, and nothing legitimate comes near 16. A header may claim 2^32.
 */
export const MAX_SEGMENTS = 16;

/**
 * Largest frame (header + segments) from a calf: a KV request is a path of at most
 * MAX_PATH_BYTES and one value; the largest schema value (calf state) is 16 KiB.
 */
export const MAX_CALF_FRAME_BYTES = 64 * 1024;

/**
 * Largest frame on an admin connection and largest response: an audit tail is the biggest
 * message we send, and 1 MiB bounds what one connection may make us buffer.
 */
export const MAX_ADMIN_FRAME_BYTES = 1024 * 1024;

/** Segments of a path, "/a/b/c" is 3. The deepest schema path ("/state/lease/x") has 3. */
export const MAX_PATH_DEPTH = 8;

/** Bytes of one path segment: keys are short identifiers such as "nameserver" or "001". */
export const MAX_SEGMENT_BYTES = 64;

/** Bytes of a whole path as text ("/a/b"): bounds audit lines and map keys. */
export const MAX_PATH_BYTES = 256;

/**
 * Changes in one commit. Every key the DHCPv4 schema can hold at once (109, most of them 64
 * routes) fits in one commit, so a lease never needs two; the frame limit bounds the bytes.
 */
export const MAX_COMMIT_CHANGES = 128;
