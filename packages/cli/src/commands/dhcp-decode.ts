/**
 * `paddock dhcp decode FILE`: prints one JSON object per line for each UDP 67/68 packet of a
 * pcap or pcapng capture, in capture order (format: docs/dhcp4-codec.md). It is the operator's
 * tool for a capture taken with tcpdump: a packet that is not valid DHCP prints as
 * {"error":CODE,"detail":…} and decoding goes on; a file that cannot be read or is not a capture
 * gives one sentence on stderr and exit code 1.
 */

import { readFileSync } from "node:fs";
import { decodeCapture } from "@paddock/dhcp4";
import type { Command } from "commander";
import { cannotRead } from "../errors.ts";

/** Writes lines to stdout, stopping quietly if the reader goes away (`… | head`). */
function writeLines(lines: readonly string[]): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  // One write per chunk of lines: a 500-packet capture is one syscall, not 500.
  const chunk = 256;
  for (let i = 0; i < lines.length; i += chunk) process.stdout.write(lines.slice(i, i + chunk).join("\n") + "\n");
}

/** Runs the decode for one file; returns the exit code. Exported for tests. */
export function runDhcpDecode(
  file: string,
  opts: { verifyChecksums?: boolean },
  out: (lines: readonly string[]) => void = writeLines,
  err: (sentence: string) => void = (s) => void process.stderr.write(s + "\n"),
): number {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    err(`paddock dhcp decode: ${cannotRead(file, e)}.`);
    return 1;
  }
  const decoded = decodeCapture(bytes, { verifyChecksums: opts.verifyChecksums === true });
  if (!decoded.ok) {
    err(`paddock dhcp decode: ${file} is not a capture this tool can read: ${decoded.error.detail} (${decoded.error.code}).`);
    return 1;
  }
  out(decoded.value.lines.map((l) => JSON.stringify(l)));
  if (decoded.value.truncated) {
    err(`paddock dhcp decode: warning: ${file} ends mid-record (${decoded.value.truncated.detail}); the packets before it are shown.`);
  }
  if (decoded.value.skippedUnsupportedLink > 0) {
    err(`paddock dhcp decode: warning: skipped ${decoded.value.skippedUnsupportedLink} packets on link types other than Ethernet, Linux cooked or raw IPv4.`);
  }
  return 0;
}

/** Adds `decode <file>` to the `paddock dhcp` command. */
export function registerDhcpDecode(dhcp: Command): void {
  dhcp
    .command("decode")
    .description("print each DHCP (UDP 67/68) packet of a pcap/pcapng capture as one JSON line")
    .argument("<file>", "capture file (pcap or pcapng, e.g. from tcpdump -w)")
    .option("--verify-checksums", "report packets whose IPv4 or UDP checksum is wrong (off by default: outgoing packets captured before checksum offload carry unfinished checksums)")
    .action((file: string, opts: { verifyChecksums?: boolean }) => {
      const code = runDhcpDecode(file, opts);
      if (code !== 0) process.exitCode = code;
    });
}
