/**
 * A throwaway runtime for the client core, for the dnsmasq interop test only: a kernel UDP socket
 * on port 68 (with the BROADCAST flag, since it cannot receive unicast before it has an address),
 * real timers, and `/ip` applied with `ip addr`. It runs inside the client's network namespace and
 * prints one JSON line per action and per state change on stdout. A line "stop" on stdin stops the
 * client with RELEASE and exits.
 *
 * Usage: tsx client-udp-runner.ts IFNAME MAC
 */

import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { createInterface } from "node:readline";
import { decodeDhcpMessage, encodeDhcpMessage } from "../src/index.ts";
import { createClient, step } from "../src/client/index.ts";
import type { ClientAction, ClientEvent, ClientState, TimerName } from "../src/client/index.ts";

const [ifname, macText] = process.argv.slice(2);
if (ifname === undefined || macText === undefined) throw new Error("usage: client-udp-runner IFNAME MAC");
const mac = Uint8Array.from(macText.split(":"), (h) => parseInt(h, 16));
/** Node's setTimeout limit. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
const timers = new Map<TimerName, NodeJS.Timeout>();
let state: ClientState;
let stopping = false;

function emit(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Actions are performed in order, a send completing before the next action (a RELEASE must leave before /ip is removed). */
async function perform(actions: ClientAction[]): Promise<void> {
  for (const a of actions) {
    switch (a.kind) {
      case "send": {
        const bytes = encodeDhcpMessage(a.message);
        if (!bytes.ok) {
          emit({ error: bytes.error });
          break;
        }
        const type = a.message.options.find((o) => o.kind === "messageType");
        emit({ send: type?.kind === "messageType" ? type.type : 0, to: a.to, ciaddr: a.message.ciaddr, flags: a.message.flags });
        await new Promise<void>((resolve) => socket.send(bytes.value, 67, a.to === "broadcast" ? "255.255.255.255" : a.to, () => resolve()));
        break;
      }
      case "setTimer": {
        clearTimeout(timers.get(a.name));
        const name = a.name;
        timers.set(name, setTimeout(() => run({ kind: "timer", name }), Math.min(Math.max(a.at - Date.now(), 0), MAX_TIMEOUT_MS)));
        break;
      }
      case "cancelTimer":
        clearTimeout(timers.get(a.name));
        timers.delete(a.name);
        break;
      case "kvWrite":
        if (a.path === "/ip") execFileSync("ip", ["addr", "replace", a.value, "dev", ifname as string]);
        emit({ kvWrite: a.path, value: a.path === "/state/lease" ? "…" : a.value });
        break;
      case "kvDelete":
        if (a.path === "/ip") execFileSync("ip", ["addr", "flush", "dev", ifname as string]);
        emit({ kvDelete: a.path });
        break;
      case "log":
        if (a.level !== "debug") emit({ log: a.message });
        break;
    }
  }
}

/** Events are handled one at a time, each after the previous one's actions. */
let queue: Promise<void> = Promise.resolve();
function run(event: ClientEvent): Promise<void> {
  queue = queue.then(async () => {
    const before = state.name;
    const r = step(state, event, Date.now());
    state = r.state;
    await perform(r.actions);
    if (state.name !== before) emit({ state: state.name });
  });
  return queue;
}

socket.on("message", (payload, rinfo) => {
  const decoded = decodeDhcpMessage(payload);
  if (!decoded.ok) return;
  run({
    kind: "received",
    message: decoded.value,
    info: { srcMac: new Uint8Array(0), dstMac: new Uint8Array(0), srcIp: rinfo.address, dstIp: "", srcPort: rinfo.port, dstPort: 68 },
    rxTime: Date.now(),
  });
});

socket.bind(68, "0.0.0.0", () => {
  socket.setBroadcast(true);
  const created = createClient({ mac, random: () => randomInt(2 ** 32) / 2 ** 32, broadcastFlag: true, hostname: "paddock-test" }, Date.now());
  if (!created.ok) throw new Error(created.error.detail);
  state = created.state;
  emit({ state: state.name });
  queue = perform(created.actions);
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "stop" || stopping) return;
  stopping = true;
  void run({ kind: "stop", release: true }).then(() => {
    for (const t of timers.values()) clearTimeout(t);
    socket.close();
    process.exit(0);
  });
});
