/**
 * Property tests of the RA client: any sequence of events (arbitrary and mutated frames, valid
 * advertisements, ticks, link changes, at non-decreasing times) never throws, keeps every list
 * within its bound, never holds an entry past its expiry after a step at that time, and asks for a
 * timer no earlier than the event that asked for it.
 */

import { test } from "@fast-check/vitest";
import fc from "fast-check";
import { expect } from "vitest";
import { MAX_PREF64, MAX_PREFIXES, MAX_RDNSS, MAX_ROUTERS, MAX_ROUTES, MAX_SEARCH_NAMES, createRaClient, step, type RaClientEvent } from "../src/index.ts";
import { linkLocal, routerAdvertisement } from "./arbitraries.ts";
import { HOST_LL, HOST_MAC, frameOf, richRa } from "./fixtures.ts";


const eventDraft = fc.oneof(
  fc.record({ kind: fc.constant("ra" as const), message: routerAdvertisement, from: linkLocal }),
  fc.record({ kind: fc.constant("frame" as const), bytes: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ kind: fc.constant("mutated" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("tick" as const) }),
  fc.record({ kind: fc.constant("link" as const), up: fc.boolean(), carrier: fc.boolean() }),
);

const rich = frameOf(richRa());

test.prop([fc.array(fc.tuple(fc.nat({ max: 4_000_000 }), eventDraft), { maxLength: 40 }), fc.uint8Array({ minLength: 4, maxLength: 4 })], { numRuns: 300 })(
  "any event sequence keeps the client within its bounds and its promises",
  (drafts, randomBytes) => {
    const created = createRaClient({ mac: HOST_MAC, linkLocal: HOST_LL, linkMtu: 1500, random: (n) => Uint8Array.from({ length: n }, (_, i) => randomBytes[i % 4]!) });
    if (!created.ok) throw new Error(created.error.detail);
    let state = step(created.state, { kind: "start", now: 0 }).state;
    let now = 0;
    for (const [advance, d] of drafts) {
      now += advance;
      let event: RaClientEvent;
      if (d.kind === "ra") event = { kind: "ra", message: d.message, from: d.from, receivedAt: now };
      else if (d.kind === "frame") event = { kind: "frame", bytes: d.bytes, link: "ethernet", receivedAt: now };
      else if (d.kind === "mutated") {
        const bytes = rich.slice();
        bytes[d.at % bytes.length] = d.value;
        event = { kind: "frame", bytes, link: "ethernet", receivedAt: now };
      } else if (d.kind === "tick") event = { kind: "tick", now };
      else event = { kind: "link", up: d.up, carrier: d.carrier, now };
      const r = step(state, event);
      expect(r.actions.filter((a) => a.kind === "log" && a.level === "warn")).toEqual([]);
      for (const a of r.actions) if (a.kind === "timer") expect(a.at).toBeGreaterThan(now - 1);
      state = r.state;
      const l = state.learned;
      expect(l.routers.length).toBeLessThanOrEqual(MAX_ROUTERS);
      expect(l.prefixes.length).toBeLessThanOrEqual(MAX_PREFIXES);
      expect(l.routes.length).toBeLessThanOrEqual(MAX_ROUTES);
      expect(l.dnsServers.length).toBeLessThanOrEqual(MAX_RDNSS);
      expect(l.searchNames.length).toBeLessThanOrEqual(MAX_SEARCH_NAMES);
      expect(l.pref64.length).toBeLessThanOrEqual(MAX_PREF64);
      for (const e of [...l.routers, ...l.routes, ...l.dnsServers, ...l.searchNames, ...l.pref64]) expect(e.expiresAt).toBeGreaterThan(now);
      for (const p of l.prefixes) {
        expect(p.onLinkUntil !== undefined || p.autonomous !== undefined).toBe(true);
        if (p.autonomous) expect(p.autonomous.preferredUntil).toBeLessThanOrEqual(p.autonomous.validUntil);
      }
      if (l.mtu !== undefined) expect(l.mtu).toBeGreaterThanOrEqual(1280);
    }
  },
);
