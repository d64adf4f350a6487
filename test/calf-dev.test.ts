/**
 * `paddock calf dev`, the SDK's no-root harness, on the real DHCP calf bundled as the sandbox
 * would get it: the bundle loads and runs, reads its keys from a real store, and its DISCOVER
 * passes the egress policy. (Catches a calf bundle that would crash-loop under runc.)
 */
import { expect, it } from "vitest";
import { paddock } from "./helpers/paddock.ts";

it("runs the DHCP calf's bundle against a store and a replayed capture", () => {
  const r = paddock(["calf", "dev", "packages/services/dhcp4/calf/src/entry.ts", "--replay", "../shared/pcaps/public/charrua/dhcp2.pcap", "--interval", "50", "--seconds", "1"]);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/calf: DHCP client started mac=02:00:00:00:00:01/);
  expect(r.stdout).toMatch(/calf sends DISCOVER xid 0x[0-9a-f]+ 0\.0\.0\.0 → 255\.255\.255\.255 verdict="would send"/);
  expect(r.stdout).toMatch(/to calf: OFFER/);
  expect(r.stdout).toMatch(/calf stopped code=0/);
}, 30_000);

it("explains a calf that does not build", () => {
  const r = paddock(["calf", "dev", "does/not/exist.ts"]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^paddock: cannot build does\/not\/exist\.ts/);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
});
