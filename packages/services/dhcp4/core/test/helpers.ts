/** Re-exports for tests, plus the Internet checksum of a byte range (to forge valid headers). */

import { finishChecksum, onesComplementSum } from "../src/bytes.ts";

export * from "../src/index.ts";

/** The checksum that makes `bytes` (with its checksum field zeroed) verify. */
export function finishChecksumForTest(bytes: Uint8Array): number {
  return finishChecksum(onesComplementSum(bytes, 0, bytes.length));
}
