/**
 * The calf of __NAME__: the only part that reads untrusted bytes.
 *
 * Holds: no capabilities, no network (its own network namespace with only lo), a read-only root,
 * a seccomp allowlist, an empty environment — the sandbox every Paddock calf gets.
 * Fds: 3 control (KV with this service's schema, calf rights), 4 data (datagrams with the kernel's
 * receive timestamp; sends go to the peer's port only).
 * KV paths it reads: /config/peer, /config/interval-ms. Writes: /status/state, /status/replies,
 * /status/last-rx-ns.
 */
import { runCalf, type CalfContext } from "@paddock/calf";
import { start, step, type Action, type Event, type State } from "./core.ts";

async function main(ctx: CalfContext): Promise<void> {
  const [peer, interval] = await Promise.all([ctx.kv.read("/config/peer"), ctx.kv.read("/config/interval-ms")]);
  let state: State;
  // Commits are chained so they reach the store in the order the core asked for them.
  let publishing: Promise<void> = Promise.resolve();
  const perform = (actions: Action[]) => {
    for (const a of actions) {
      if (a.kind === "send") ctx.data.sendDatagram(a.data, a.to);
      else if (a.kind === "timer") ctx.timers.set("hello", a.atMs, () => run({ kind: "tick", nowMs: ctx.now() }));
      else publishing = publishing.then(() => ctx.kv.commit(a.changes)).catch((err: Error) => ctx.log.warn({ err: err.message }, "could not publish"));
    }
  };
  const run = (event: Event) => {
    const r = step(state, event);
    state = r.state;
    perform(r.actions);
  };
  const first = start(peer, Number(interval), ctx.now());
  state = first.state;
  ctx.data.onDatagram((data, from, rxTimeNs) => run({ kind: "datagram", data, from, rxTimeNs }));
  ctx.log.info({ peer }, "__NAME__ calf started");
  perform(first.actions);
  ctx.onStop(() => publishing);
}

void runCalf({ name: "__NAME__" }, main);
