/**
 * Kernel transmit timestamps end to end: `paddock run ./test/fixtures/tx-echo/service.ts`, whose UDP
 * channel has `txTimestamps: true`, in a namespace joined by a veth pair to a UDP echo responder.
 * Its calf (real runc sandbox) sends tagged datagrams through the priv, gets back the kernel's
 * transmit time of one (txTime) and the kernel's receive time of its echo, and publishes both in
 * one commit; the test reads them through the service's admin socket.
 *
 * Needs root (namespaces, runc) and Linux ≥ 6.13 for per-send transmit timestamps. Skipped with a
 * reason otherwise, never under CI=true.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectKv } from "@paddock/kv";
import {
  canCreateLabs,
  createLab,
  hasCommands,
  LAB_SKIP_REASON,
  startPaddock,
  startServer,
  waitFor,
  waitForUdpPort,
  type Lab,
  type LabProcess,
  type PaddockProcess,
  type Veth,
} from "@paddock/testkit";

const NEEDS = ["runc", "nsenter", "tc"];
if (process.env.CI === "true" && !(canCreateLabs && hasCommands(NEEDS))) throw new Error(`CI must run the transmit timestamp test as root with ${NEEDS.join(", ")}`);
const run = canCreateLabs && hasCommands(NEEDS);
const skipReason = canCreateLabs ? `needs ${NEEDS.join(", ")}` : LAB_SKIP_REASON;

const repoRoot = path.resolve(import.meta.dirname, "..");
const SERVICE = path.join(repoRoot, "test/fixtures/tx-echo/service.ts");
const ECHO = path.join(repoRoot, "test/fixtures/tx-echo/echo-server.mjs");
/** A build as nobody, one calf and an echo over a veth take a few seconds; this is a hang. */
const TIMEOUT_MS = 30_000;
/** Any time after 2020, in ns: a real CLOCK_REALTIME stamp, not a small counter or a ms clock. */
const AFTER_2020_NS = 1_600_000_000n * 1_000_000_000n;

/** Reads the calf's published keys through the admin socket (undefined until it has committed). */
async function readResult(socket: string): Promise<{ tag: string; txNs: bigint; rxNs: bigint } | undefined> {
  let c;
  try {
    c = await connectKv(socket);
  } catch {
    return undefined; // not listening yet
  }
  try {
    const [tag, tx, rx] = await Promise.all(["/result/tag", "/result/tx-ns", "/result/rx-ns"].map((k) => c.read(k)));
    return { tag: tag!, txNs: BigInt(tx!), rxNs: BigInt(rx!) };
  } catch {
    return undefined; // one commit: either all three keys are there or none
  } finally {
    c.close();
  }
}

describe.skipIf(!run)(`a UDP channel with kernel transmit timestamps (${run ? "root" : skipReason})`, () => {
  let lab: Lab;
  let link: Veth;
  let echo: LabProcess;
  let priv: PaddockProcess;
  let adminSocket: string;
  const net = "10.86.0";

  beforeAll(async () => {
    lab = createLab({ prefix: "pdktx" });
    const server = lab.namespace("srv", { ipv6: false });
    const client = lab.namespace("cli", { ipv6: false });
    link = lab.veth(server, client, { addresses: { a: `${net}.1/24`, b: `${net}.2/24` } });
    echo = await startServer(lab, server, {
      name: "echo-server",
      argv: [process.execPath, ECHO, `${net}.1`, "7"],
      ready: (p, timeoutMs) => waitForUdpPort(p, 7, timeoutMs),
    });
    const runtimeDir = lab.file("run");
    mkdirSync(runtimeDir, { mode: 0o711 });
    adminSocket = path.join(runtimeDir, `txecho-${link.b.name}.sock`);
    priv = startPaddock(lab, client, [
      "run", SERVICE, "--iface", link.b.name, "--runtime-dir", runtimeDir, "--state-dir", lab.file("state"), "--set", `peer=${net}.1`,
    ], { name: "paddock run txecho" });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("the calf gets the kernel's transmit time of a tagged request, no later than the receive time of its echo", async () => {
    const result = await waitFor(() => readResult(adminSocket), {
      what: "the txecho calf to publish a transmit and a receive timestamp",
      timeoutMs: TIMEOUT_MS,
      abortOnExit: priv,
      state: () => priv.tail(),
    });
    expect(Number(result.tag)).toBeGreaterThanOrEqual(1);
    // Both from the kernel's CLOCK_REALTIME (SO_TIMESTAMPING software tx, SO_TIMESTAMPNS rx).
    expect(result.txNs).toBeGreaterThan(AFTER_2020_NS);
    expect(result.rxNs).toBeGreaterThan(AFTER_2020_NS);
    expect(result.txNs).toBeLessThanOrEqual(result.rxNs);
    // The request went out and came back: the untagged one too.
    await echo.waitForLog(/^echo 8 bytes to /, { occurrence: 2, timeoutMs: 10_000 });
    expect(priv.output).not.toMatch(/no per-send transmit timestamps/);
  });

  it("stops cleanly", async () => {
    expect((await priv.stop()).code).toBe(0);
  });
});
