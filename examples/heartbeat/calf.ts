/**
 * The heartbeat calf: the part of the service that reads untrusted bytes (the server's replies).
 *
 * Holds: no capabilities, no network (its own network namespace with only lo), a read-only root,
 * a seccomp allowlist, an empty environment — the sandbox every Paddock calf gets.
 * Fds: 3 control (KV: the heartbeat schema, calf rights), 4 data (datagrams from the UDP channel,
 * with the kernel's receive timestamp; datagrams out go to the peer's port 7047 only).
 * KV paths it reads: /config/peer, /config/interval-ms, /config/try-port.
 * KV paths it writes (one commit per reply): /last/seq /last/rtt-us /last/offset-us /last/rx-ns
 * /peer/state.
 */
import { runCalf, type CalfContext, type CalfProfile } from "@paddock/calf";
import { createClient, encode, step, type ClientAction, type ClientState, type Sample } from "./core.ts";

/** The calf's profile (its name tags its log lines; the sandbox limits come from the definition). */
const profile: CalfProfile = { name: "heartbeat" };

/** Wall-clock ns with µs resolution: the same clock (CLOCK_REALTIME) as the kernel's receive timestamps. */
function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

async function main(ctx: CalfContext): Promise<void> {
  // Pipelined: one round trip for the three reads.
  const [peer, interval, tryPort] = await Promise.all([ctx.kv.read("/config/peer"), ctx.kv.read("/config/interval-ms"), ctx.kv.read("/config/try-port")]);
  let state: ClientState;
  // Actions run strictly in order; commits are chained so they reach the store in order too.
  let publishing: Promise<void> = Promise.resolve();
  const publish = (changes: Array<{ path: string; value: string }>) => {
    publishing = publishing.then(() => ctx.kv.commit(changes)).catch((err: Error) => ctx.log.warn({ err: err.message }, "could not publish"));
  };
  const perform = (actions: ClientAction[]) => {
    for (const a of actions) {
      if (a.kind === "send") ctx.data.sendDatagram(a.data, a.to);
      else if (a.kind === "timer") ctx.timers.set("ping", Number(a.atNs / 1_000_000n), () => run({ kind: "tick", nowNs: nowNs() }));
      else if (a.kind === "publish") publish(sampleChanges(a.sample));
      else if (a.kind === "unreachable") publish([{ path: "/peer/state", value: "unreachable" }]);
      else ctx.log.debug({ reason: a.reason }, "ignored a datagram");
    }
  };
  const run = (event: Parameters<typeof step>[1]) => {
    const r = step(state, event);
    state = r.state;
    perform(r.actions);
  };
  const created = createClient({ peer, intervalMs: Number(interval) }, nowNs());
  state = created.state;
  ctx.data.onDatagram((data, from, rxTimeNs) => run({ kind: "datagram", data, from, rxTimeNs }));
  ctx.log.info({ peer, intervalMs: Number(interval) }, "heartbeat started");
  perform(created.actions);
  if (tryPort !== "0") {
    // The priv refuses this (wrong port): the refusal shows in its log and in paddock_egress_rejected_total.
    ctx.log.info({ port: Number(tryPort) }, "trying a port egress does not allow");
    ctx.data.sendDatagram(encode({ kind: "ping", seq: 0, token: 0n }), { address: peer, port: Number(tryPort) });
  }
  ctx.onStop(() => publishing);
}

/** One reply's measurement as the keys of one commit. */
function sampleChanges(s: Sample): Array<{ path: string; value: string }> {
  return [
    { path: "/last/seq", value: String(s.seq) },
    { path: "/last/rtt-us", value: String(s.rttUs) },
    { path: "/last/offset-us", value: String(s.offsetUs) },
    { path: "/last/rx-ns", value: String(s.rxTimeNs) },
    { path: "/peer/state", value: "reachable" },
  ];
}

void runCalf(profile, main);
