import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { readCapture } from "@paddock/dhcp4";
import { MAX_SERVERS, observe, type ServerSeen } from "./observer.ts";

/** Server message types (2 OFFER, 5 ACK, 6 NAK) per tshark's decode of the same capture. */
function oracleServerMessages(): number {
  const oracle = JSON.parse(readFileSync(new URL("../../../shared/pcaps/public/oracle/dhcp.json", import.meta.url), "utf8")) as Array<{ layer: unknown }>;
  return oracle.filter((p) => /"dhcp\.option\.dhcp":\s*"(2|5|6)"/.test(JSON.stringify(p.layer))).length;
}

it("counts the servers' OFFER, ACK and NAK in a real capture, as tshark does", () => {
  const capture = readCapture(readFileSync(new URL("../../../shared/pcaps/public/zeek/dhcp.pcap", import.meta.url)));
  if (!capture.ok) throw new Error(capture.error.detail);
  const servers = new Map<string, ServerSeen>();
  for (const p of capture.value.packets) observe(servers, p.data, 1000);
  const all = [...servers.values()];
  expect(all.length).toBeGreaterThan(0);
  const total = all.reduce((n, s) => n + s.offers + s.acks + s.naks, 0);
  expect(total).toBe(oracleServerMessages());
  expect(all.some((s) => s.naks === 1)).toBe(true);
});

it("ignores what is not a server message, and tracks at most MAX_SERVERS servers", () => {
  const capture = readCapture(readFileSync(new URL("../../../shared/pcaps/public/zeek/dhcp.pcap", import.meta.url)));
  if (!capture.ok) throw new Error(capture.error.detail);
  const servers = new Map<string, ServerSeen>();
  expect(observe(servers, new Uint8Array(100), 1)).toBe(false);
  expect(observe(servers, capture.value.packets[0]!.data, 1)).toBe(false); // a DISCOVER
  for (let i = 0; i < MAX_SERVERS; i++) servers.set(`10.0.0.${i}`, { id: `10.0.0.${i}`, mac: "", offers: 1, acks: 0, naks: 0, lastSeen: 0 });
  expect(observe(servers, capture.value.packets[1]!.data, 1)).toBe(false); // an OFFER from a new server
  expect(servers.size).toBe(MAX_SERVERS);
});
