import { describe, expect, it } from "vitest";
import { dhcp4Service } from "@paddock/service-dhcp4";
import { raService } from "@paddock/service-ra";
import heartbeat from "../../../examples/heartbeat/service.ts";
import { describeService } from "../src/commands/describe.ts";

describe("paddock describe", () => {
  it("shows the DHCP service's options, egress rule, limits and every store key", () => {
    const text = describeService(dhcp4Service);
    expect(text).toMatch(/^dhcp4: DHCPv4 client/);
    expect(text).toContain('  min-lease-seconds (number, default 60, live): ');
    expect(text).toContain('  client-id (string, default "duid"): ');
    expect(text).toContain('may send {"family":"ipv4","protocol":"udp","srcPort":68,"dstPort":67,"firstPayloadByte":1}');
    expect(text).toContain("memory 96 MiB, 32 pids, 1 core(s), sends 10/s, burst 20");
    for (const e of dhcp4Service.schema.entries) expect(text).toContain(`  ${e.pattern} (`);
  });

  it("names the service once when its description starts with the name (ra's does)", () => {
    expect(raService.description).toMatch(/^ra: /);
    expect(describeService(raService)).toMatch(/^ra: an IPv6 router discovery client/);
  });

  it("shows a UDP service's channel and says which keys the priv writes", () => {
    const text = describeService(heartbeat);
    expect(text).toContain("udp: local port any, may send to port 7047 of its peers, datagrams ≤ 16 bytes");
    expect(text).toContain("  /config/peer (priv writes;");
    expect(text).toContain("  /last/rtt-us (calf writes;");
  });
});
