/**
 * `paddock calf dev ENTRY.ts`: runs a calf without root and without a network, for developing
 * one with the SDK. The calf gets its two channels exactly as under the priv (fd 3: a real store
 * with the service's schema and calf rights; fd 4: the data channel), but its frames come from a
 * capture file, and the frames it sends are checked against the service's egress policy and
 * printed, not sent. It is not sandboxed: never feed it traffic you do not trust.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bundleCalf, parseCalfLogLine } from "@paddock/runtime";
import { KvServer, KvStore } from "@paddock/kv";
import { dhcpClientEgress, dhcp4Schema } from "@paddock/service-dhcp4";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES } from "@paddock/protocol";
import { decodeDhcpFrame, readCapture } from "@paddock/dhcp4";
import type { Command } from "commander";
import { UserError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { createSocketPairs } from "@paddock/runtime/channels";

interface DevOptions {
  schema: string;
  replay?: string;
  mac: string;
  seconds: string;
  interval: string;
  keep?: boolean;
}

function describeFrame(frame: Uint8Array): string {
  const d = decodeDhcpFrame(frame, { verifyChecksums: false });
  if (!d.ok) return `${frame.length} bytes (${d.error.code})`;
  const type = d.value.message.options.find((o) => o.kind === "messageType");
  const names = ["?", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"];
  const t = type && type.kind === "messageType" ? (names[type.type] ?? String(type.type)) : "BOOTP";
  return `${t} xid 0x${d.value.message.xid.toString(16)} ${d.value.info.srcIp} → ${d.value.info.dstIp}`;
}

async function dev(entry: string, opts: DevOptions): Promise<void> {
  const schemas = { dhcp4: dhcp4Schema } as const;
  const schema = schemas[opts.schema as keyof typeof schemas];
  if (!schema) throw new UserError(`there is no schema named ${JSON.stringify(opts.schema)}; known: ${Object.keys(schemas).join(", ")}`);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(opts.mac)) throw new UserError(`--mac must look like 02:00:00:00:00:01, not ${JSON.stringify(opts.mac)}`);
  const seconds = Number(opts.seconds);
  const interval = Number(opts.interval);
  if (!(seconds > 0)) throw new UserError(`--seconds must be a positive number, not ${JSON.stringify(opts.seconds)}`);
  if (!(interval >= 0)) throw new UserError(`--interval must be a number of milliseconds, not ${JSON.stringify(opts.interval)}`);
  let frames: Uint8Array[] = [];
  if (opts.replay) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.replay);
    } catch (err) {
      throw new UserError(`cannot read ${opts.replay}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const capture = readCapture(bytes);
    if (!capture.ok) throw new UserError(`${opts.replay} is not a capture this tool reads: ${capture.error.detail}`);
    frames = capture.value.packets.filter((p) => p.linkType === 1).map((p) => p.data);
  }

  const log = createLogger("debug", "text");
  const work = mkdtempSync(path.join(tmpdir(), "paddock-calf-dev-"));
  const children: Array<ReturnType<typeof spawn>> = [];
  const store = new KvStore({ schema, stateDir: path.join(work, "state") });
  const server = new KvServer(store, log.child({ component: "kv" }));
  try {
    const priv = { role: "priv" as const, name: "priv" };
    await store.write(priv, ["mac"], new TextEncoder().encode(opts.mac));
    store.watch("/", (e) => {
      for (const c of e.changes) log.info({ component: "kv", seq: e.seq.toString() }, c.value === null ? `del ${c.path}` : `put ${c.path} ${c.value}`);
    });

    const script = path.join(work, "calf.mjs");
    const built = await bundleCalf(path.resolve(entry), script).catch((err: Error) => {
      throw new UserError(`cannot build ${entry}: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message.split("\n")[0]}` : ""}`);
    });
    log.info({ component: "dev", bytes: built.bytes }, `built ${entry}`);

    const [control, data] = await createSocketPairs(work, 2);
    server.serve(control!.priv, { role: "calf", name: "calf:dev" });
    const mac = new Uint8Array(opts.mac.split(":").map((h) => parseInt(h, 16)));
    const egress = dhcpClientEgress({ mac, leasedAddress: () => store.values.get("/ip")?.split("/")[0] });
    const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
    data!.priv.on("data", (chunk: Buffer) => {
      for (const f of reader.push(new Uint8Array(chunk)).frames) {
        const m = decodeDataMessage(f);
        if (!m.ok || m.value.kind !== "frame") {
          log.warn({ component: "datapath" }, "the calf broke the data-path protocol");
          continue;
        }
        const refusal = egress(m.value.data);
        log.info({ component: "datapath", verdict: refusal ? refusal.code : "would send" }, `calf sends ${describeFrame(m.value.data)}`);
      }
    });

    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe", control!.calf, data!.calf], env: {} });
    children.push(child);
    control!.calf.destroy();
    data!.calf.destroy();
    for (const [stream, level] of [["stdout", "info"], ["stderr", "warn"]] as const) {
      let rest = "";
      child[stream]!.on("data", (c: Buffer) => {
        const lines = (rest + c.toString()).split("\n");
        rest = lines.pop()!;
        for (const l of lines) {
          if (!l) continue;
          const rec = parseCalfLogLine(l, level);
          log[rec.level]({ component: "calf", ...rec.fields }, rec.msg);
        }
      });
    }
    data!.priv.write(encodeDataMessage({ kind: "link", up: true, carrier: true, mtu: 1500 }));
    for (const frame of frames) {
      await new Promise((r) => setTimeout(r, interval));
      log.info({ component: "datapath" }, `to calf: ${describeFrame(frame)}`);
      data!.priv.write(encodeDataMessage({ kind: "frame", data: frame, rxTimeNs: BigInt(Date.now()) * 1_000_000n }));
    }
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const stopAt = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), seconds * 1000));
    const interrupted = new Promise<"signal">((r) => process.once("SIGINT", () => r("signal")));
    const why = await Promise.race([exited, stopAt, interrupted]);
    if (why === "timeout" || why === "signal") {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      const code = await exited;
      clearTimeout(t);
      log.info({ component: "dev", code }, "calf stopped");
    } else {
      log.info({ component: "dev", code: why }, "calf exited by itself");
    }
    control!.priv.destroy();
    data!.priv.destroy();
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await server.close();
    await store.close();
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
    else log.info({ component: "dev" }, `kept ${work}`);
  }
}

export function registerCalf(program: Command): void {
  const calf = program.command("calf").description("tools for writing calves with the SDK");
  calf
    .command("dev")
    .description("run a calf without root or network: fd 3 is a real store, fd 4 replays a capture; its frames are checked by the egress policy and printed, not sent")
    .argument("<entry>", "the calf's entry file (TypeScript or JavaScript), as it would be bundled")
    .option("--schema <name>", "the service schema", "dhcp4")
    .option("--replay <capture>", "a pcap/pcapng file whose Ethernet frames are given to the calf")
    .option("--mac <mac>", "the MAC written to /mac", "02:00:00:00:00:01")
    .option("--interval <ms>", "pause before each replayed frame", "100")
    .option("--seconds <n>", "stop the calf after this long", "5")
    .option("--keep", "keep the temporary state directory (store file and audit log)")
    .action(dev);
}
