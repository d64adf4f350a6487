// The operator's settings in the core: option 60 in what the client sends, and a new configuration
// taken by a running client (a reload) without touching its lease, state or timers.
import { describe, expect, it } from "vitest";
import { MessageType } from "../src/message.ts";
import { reconfigure, resolveConfig } from "../src/client/index.ts";
import { Harness, config, opt, typeOf } from "./client-fixtures.ts";

const vendor = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe("vendor class (option 60)", () => {
  it("goes in DISCOVER and REQUEST, and not when unset", () => {
    const h = new Harness(config({ vendorClass: vendor("acme-router") }));
    expect(typeOf(h.only())).toBe(MessageType.DISCOVER);
    expect(new TextDecoder().decode(opt(h.only(), "vendorClass")?.data)).toBe("acme-router");
    h.bindTo();
    const renewal = h.fire("t1");
    expect(renewal).not.toHaveLength(0);
    expect(new TextDecoder().decode(opt(h.only(), "vendorClass")?.data)).toBe("acme-router");
    expect(opt(new Harness().only(), "vendorClass")).toBeUndefined();
  });

  it("is refused empty or longer than one option holds", () => {
    expect(resolveConfig(config({ vendorClass: new Uint8Array(0) }))).toMatchObject({ ok: false, error: { field: "vendorClass" } });
    expect(resolveConfig(config({ vendorClass: new Uint8Array(256) }))).toMatchObject({ ok: false, error: { field: "vendorClass" } });
    expect(resolveConfig(config({ vendorClass: new Uint8Array(255) })).ok).toBe(true);
  });
});

describe("reconfigure", () => {
  it("keeps the lease, the state and the timers; the next renewal carries the new host name", () => {
    const h = new Harness(config({ hostname: "old" }));
    h.bindTo();
    const before = h.state;
    const r = reconfigure(h.state, config({ hostname: "new-name", vendorClass: vendor("v2") }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.state.lease).toBe(before.lease);
    expect(r.state.name).toBe("BOUND");
    expect(r.state.timers).toEqual(before.timers);
    expect(r.state.published).toBe(before.published);
    h.state = r.state;
    h.fire("t1");
    const m = h.only();
    expect(typeOf(m)).toBe(MessageType.REQUEST);
    expect(opt(m, "hostname")?.name).toBe("new-name");
    expect(new TextDecoder().decode(opt(m, "vendorClass")?.data)).toBe("v2");
  });

  it("refuses an invalid configuration or another MAC, leaving the state as it was", () => {
    const h = new Harness();
    expect(reconfigure(h.state, config({ hostname: "bad name!" }))).toMatchObject({ ok: false, error: { field: "hostname" } });
    expect(reconfigure(h.state, config({ mac: Uint8Array.of(2, 0, 0, 0, 0, 9) }))).toMatchObject({ ok: false, error: { field: "mac" } });
  });

  it("takes keepLease for the next reboot timeout", () => {
    const h = new Harness();
    expect(h.state.config.onRebootTimeout).toBe("init");
    const r = reconfigure(h.state, config({ onRebootTimeout: "keepLease" }));
    expect(r.ok && r.state.config.onRebootTimeout).toBe("keepLease");
  });
});
