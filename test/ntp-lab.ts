/**
 * What the NTP namespace tests (and bench/ntp.ts) share: `paddock ntp` started in a lab's client
 * namespace with its state, runtime directory and admin socket in the lab, awaited until its calf
 * has started the client, and a KV connection to its store.
 */
import { mkdirSync } from "node:fs";
import { connectKv, type KvClient } from "@paddock/kv";
import { startPaddock, type Lab, type NsRef, type PaddockProcess } from "@paddock/testkit";

/** A running `paddock ntp` and a connection to its store. */
export interface NtpUnderTest {
  ntp: PaddockProcess;
  kv: KvClient;
  /** A key's value, or undefined when it is not set (or the store cannot be read). */
  read(path: string): Promise<string | undefined>;
}

/** Starts `paddock ntp --iface IFACE --server …` (observe mode unless `extraArgs` says otherwise) in `ns`. */
export async function startPaddockNtp(lab: Lab, ns: NsRef, iface: string, servers: readonly string[], options: { extraArgs?: string[]; timeoutMs: number }): Promise<NtpUnderTest> {
  const runtimeDir = lab.file("run");
  mkdirSync(runtimeDir, { mode: 0o711 });
  const ntp = startPaddock(lab, ns, [
    "ntp", "--iface", iface, ...servers.flatMap((s) => ["--server", s]), ...(options.extraArgs ?? []),
    "--state-dir", lab.file("state"), "--runtime-dir", runtimeDir, "--admin-socket", lab.file("ntp.sock"), "--log-format", "json",
  ]);
  await ntp.waitForLog(/NTP client started/, { timeoutMs: options.timeoutMs });
  const kv = await connectKv(lab.file("ntp.sock"));
  return { ntp, kv, read: (p) => kv.read(p).catch(() => undefined) };
}
