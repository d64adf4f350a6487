// The lease handler's look-ahead (decision 0012): the look-ups it starts when an ACK is relayed run
// on a socket of their own, opened once and closed by the runner's stop; an ACK relayed after the
// stop (the priv shutting down) opens none, so nothing is left open.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RtnetlinkClient } from "@paddock/netlink";
import { LeaseHandler } from "../src/handlers/lease-handler.ts";

const dir = mkdtempSync(path.join(tmpdir(), "paddock-lookahead-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the lease handler's look-ahead socket", () => {
  it("is opened once for the look-ups, closed at stop, and not opened again after it", async () => {
    const sockets: { closed: boolean }[] = [];
    const open = (): RtnetlinkClient => {
      const s = { closed: false };
      sockets.push(s);
      // Only what a look-up asks: the link, the addresses and the routes (answered empty).
      return {
        getLink: async () => ({ index: 2, name: "eth9", flags: 0, mtu: 1500 }),
        listAddresses: async () => [],
        listRoutes: async () => [],
        close: () => {
          s.closed = true;
        },
      } as unknown as RtnetlinkClient;
    };
    const records = { readRecord: () => undefined, writeRecord: async () => {} };
    const handler = new LeaseHandler({ link: "eth9", stateDir: dir, records, openNetlink: open });
    handler.lookAhead();
    handler.lookAhead();
    expect(sockets).toHaveLength(1);
    await handler.stopped();
    expect(sockets.map((s) => s.closed)).toEqual([true]);
    handler.lookAhead();
    expect(sockets).toHaveLength(1);
  });
});
