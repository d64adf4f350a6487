/** Test support: a client's configuration, servers' messages and a driver that runs the machine. */

import {
  createDhcp6Client,
  decodeDhcp6Message,
  encodeDhcp6Message,
  step,
  type Dhcp6ClientAction,
  type Dhcp6ClientConfig,
  type Dhcp6ClientEvent,
  type Dhcp6ClientState,
  type Dhcp6Lease,
  type Dhcp6Message,
  type Dhcp6Option,
  type Duid,
} from "../src/index.ts";

export const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x8a, 0x3e, 0x1c);
export const CLIENT_DUID: Duid = { type: "ll", hardwareType: 1, linkLayer: MAC };
export const SERVER_DUID: Duid = { type: "llt", hardwareType: 1, time: 0x2eddfa9f, linkLayer: Uint8Array.of(0x74, 0x13, 0xea, 0xa5, 0x1d, 0x1f) };
export const OTHER_SERVER_DUID: Duid = { type: "en", enterprise: 2495, identifier: Uint8Array.of(1, 2, 3, 4) };
export const SERVER_ADDRESS = "fe80::5054:ff:fe21:6722";
export const IAID = 0x008a3e1c;

/** A random source that cycles through fixed values (0.5 gives RAND = 0). */
export function fixedRandom(values: readonly number[] = [0.5]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

export function config(over: Partial<Dhcp6ClientConfig> = {}): Dhcp6ClientConfig {
  return { mode: "stateful", iaid: IAID, duid: { kind: "ll", mac: MAC }, random: fixedRandom(), ...over };
}

export function client(over: Partial<Dhcp6ClientConfig> = {}): Dhcp6ClientState {
  const c = createDhcp6Client(config(over));
  if (!c.ok) throw new Error(c.error.detail);
  return c.state;
}

export function encoded(m: Dhcp6Message): Uint8Array {
  const r = encodeDhcp6Message(m);
  if (!r.ok) throw new Error(r.error.detail);
  return r.value;
}

/** An IA_NA holding one address. */
export function iaNa(address = "2001:db8::13c", preferred = 3600, valid = 7200, t1 = 1800, t2 = 2880, iaid = IAID): Dhcp6Option {
  return { kind: "iaNa", iaid, t1, t2, options: [{ kind: "iaAddr", address, preferred, valid, options: [] }] };
}

/** An IA_PD holding one prefix. */
export function iaPd(prefix = "2001:db8:100::", prefixLength = 56, preferred = 3600, valid = 7200, t1 = 1800, t2 = 2880, inner: Dhcp6Option[] = []): Dhcp6Option {
  return { kind: "iaPd", iaid: IAID, t1, t2, options: [{ kind: "iaPrefix", preferred, valid, prefixLength, prefix, options: inner }] };
}

/** A server's message answering `transactionId`, with our client id and its server id first. */
export function fromServer(type: number, transactionId: number, options: Dhcp6Option[], server: Duid = SERVER_DUID, clientDuid: Duid = CLIENT_DUID): Dhcp6Message {
  return { type: type as Dhcp6Message["type"], transactionId, options: [{ kind: "clientId", duid: clientDuid }, { kind: "serverId", duid: server }, ...options] };
}

/** Runs events through the machine, keeping every action with the time it happened. */
export class Driver {
  state: Dhcp6ClientState;
  now = 0;
  readonly log: { at: number; action: Dhcp6ClientAction }[] = [];

  constructor(state: Dhcp6ClientState) {
    this.state = state;
  }

  run(event: Dhcp6ClientEvent): Dhcp6ClientAction[] {
    if (event.kind === "datagram") this.now = event.rxTimeMs;
    else this.now = event.now;
    const r = step(this.state, event);
    this.state = r.state;
    for (const action of r.actions) this.log.push({ at: this.now, action });
    return r.actions;
  }

  /** Fires the armed timer (when one is armed and not after `until`). */
  fire(until = Number.POSITIVE_INFINITY): Dhcp6ClientAction[] | undefined {
    const at = this.state.timerAt;
    if (at === null || at > until) return undefined;
    return this.run({ kind: "tick", now: Math.max(this.now, at) });
  }

  /** Sends already returned by nextSend. */
  private consumed = 0;

  /** The next message sent that nextSend has not returned yet, firing timers (up to `until`) until there is one. */
  nextSend(until = this.now + 7 * 86_400_000): { message: Dhcp6Message; at: number } | undefined {
    for (let i = 0; i < 1000; i++) {
      const sends = this.sends();
      if (sends.length > this.consumed) return sends[this.consumed++];
      if (this.fire(until) === undefined) return undefined;
    }
    return undefined;
  }

  reply(type: number, transactionId: number, options: Dhcp6Option[], over: { server?: Duid; clientDuid?: Duid; from?: string; at?: number } = {}): Dhcp6ClientAction[] {
    return this.run({ kind: "datagram", bytes: encoded(fromServer(type, transactionId, options, over.server, over.clientDuid)), from: over.from ?? SERVER_ADDRESS, rxTimeMs: over.at ?? this.now + 5 });
  }

  sends(): { at: number; message: Dhcp6Message }[] {
    return this.log.flatMap((l) => (l.action.kind === "send" ? [{ at: l.at, message: decodeSent(l.action.bytes) }] : []));
  }

  published(): (Dhcp6Lease | null)[] {
    return this.log.flatMap((l) => (l.action.kind === "publish" ? [l.action.lease] : []));
  }
}

export function decodeSent(bytes: Uint8Array): Dhcp6Message {
  const d = decodeDhcp6Message(bytes);
  if (!d.ok) throw new Error(d.error.detail);
  return d.value;
}

