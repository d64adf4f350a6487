// Unit tests of the service definition: what defineService refuses (every problem at once), how
// options are parsed, and the slots that keep services apart on one interface.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkServiceDefinition,
  defineService,
  isServiceDefinition,
  parseServiceOptions,
  serviceSlot,
  ServiceDefinitionError,
  ServiceOptionError,
  type ServiceDefinition,
} from "../src/index.ts";

const valid = {
  name: "echo",
  description: "an echo client",
  channels: { udp: { kind: "udp", localPort: 0, remotePort: 7, maxDatagramBytes: 512 } },
  schema: { entries: [], maxTotalBytes: 4096 },
  calf: { entry: "./calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 5, burst: 10 } },
  options: {
    peer: { kind: "string", description: "the server" },
    verbose: { kind: "boolean", description: "log more" },
    count: { kind: "number", description: "how many", default: 3 },
  },
} as const satisfies ServiceDefinition<any>;

describe("defineService", () => {
  it("returns a valid definition unchanged", () => {
    const d = defineService(valid);
    expect(d).toBe(valid);
    expect(isServiceDefinition(d)).toBe(true);
    expect(checkServiceDefinition(valid)).toEqual([]);
  });

  it("refuses a broken definition with every problem in one error", () => {
    const broken = {
      ...valid,
      name: "Echo_Service",
      channels: { packet: { kind: "packet", receive: { family: "ipv4", protocol: "udp" }, egress: "all", maxFrameBytes: 10 } },
      calf: { entry: "./calf.ts", memoryMiB: 8, pids: 2, sendRate: { perSecond: 0, burst: 0 } },
    } as unknown as ServiceDefinition<any>;
    let err: unknown;
    try {
      defineService(broken);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServiceDefinitionError);
    const e = err as ServiceDefinitionError;
    expect(e.code).toBe("PADDOCK_E_SERVICE_DEFINITION");
    expect(e.problems).toEqual([
      'name "Echo_Service" must be 1–10 lower-case letters and digits, starting with a letter',
      "channels.packet.egress must be a list of rules (it may be empty: the calf then sends nothing)",
      "channels.packet.maxFrameBytes must be 14–9018",
      "calf.memoryMiB must be at least 32",
      "calf.pids must be at least 16",
      "calf.sendRate needs perSecond > 0 and burst ≥ 1",
    ]);
  });

  it("takes a receive list, and refuses an empty one or a bad pattern in it, naming the pattern", () => {
    const withReceive = (receive: unknown) => ({ ...valid, channels: { packet: { kind: "packet", receive, egress: [], maxFrameBytes: 100 } } }) as unknown as ServiceDefinition<any>;
    expect(checkServiceDefinition(withReceive([{ family: "ipv4", protocol: "udp", dstPort: 68 }, { family: "arp" }]))).toEqual([]);
    expect(checkServiceDefinition(withReceive([]))).toEqual(["channels.packet.receive: pattern: a receive list needs at least one pattern"]);
    expect(checkServiceDefinition(withReceive([{ family: "arp" }, { family: "ipv4", protocol: "udp", dstport: 68 }]))).toEqual([
      "channels.packet.receive: rule 1.dstport: is not a field of a ipv4/udp pattern",
    ]);
  });

  it("needs a channel, and refuses a service that reads its own keys as an input", () => {
    const d = { ...valid, channels: {}, inputs: [{ service: "echo", keys: ["/x"] }] } as unknown as ServiceDefinition<any>;
    expect(checkServiceDefinition(d)).toEqual([
      "channels: a service needs a packet or a udp channel",
      "inputs: a service does not declare its own keys as an input",
    ]);
  });

  it("an input's optional flag is true or false", () => {
    const d = { ...valid, inputs: [{ service: "dhcp4", keys: ["/ntp/*"], optional: "yes" }] } as unknown as ServiceDefinition<any>;
    expect(checkServiceDefinition(d)).toEqual(["inputs: optional of dhcp4 must be true or false"]);
    expect(checkServiceDefinition({ ...valid, inputs: [{ service: "dhcp4", keys: ["/ntp/*"], optional: true }] } as unknown as ServiceDefinition<any>)).toEqual([]);
  });

  it("never throws anything but its own error on arbitrary input", () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        try {
          defineService(x as ServiceDefinition<any>);
        } catch (e) {
          expect(e).toBeInstanceOf(ServiceDefinitionError);
        }
      }),
    );
  });
});

describe("parseServiceOptions", () => {
  it("gives defaults, converts the declared kinds and keeps the rest undefined", () => {
    expect(parseServiceOptions(valid, {})).toEqual({ peer: undefined, verbose: false, count: 3 });
    expect(parseServiceOptions(valid, { peer: "10.0.0.1", verbose: "true", count: "5" })).toEqual({ peer: "10.0.0.1", verbose: true, count: 5 });
    expect(parseServiceOptions(valid, { verbose: true, count: 7 })).toEqual({ peer: undefined, verbose: true, count: 7 });
  });

  it.each([
    [{ nope: "1" }, 'the service echo has no option "nope" (it has: peer, verbose, count)'],
    [{ verbose: "yes" }, 'option verbose of echo must be true or false, not "yes"'],
    [{ count: "many" }, 'option count of echo must be a number, not "many"'],
    [{ count: "" }, 'option count of echo must be a number, not ""'],
    [{ peer: true }, "option peer of echo must be text, not true"],
  ])("refuses %j in one sentence", (settings, message) => {
    expect(() => parseServiceOptions(valid, settings)).toThrowError(new ServiceOptionError(message));
  });
});

describe("serviceSlot", () => {
  it("is stable, in Paddock's mark range, and a valid tc slot", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/), (name) => {
        const s = serviceSlot(name);
        expect(serviceSlot(name)).toEqual(s);
        expect(s.mark >>> 24).toBe(0x9a);
        expect(s.handle).toBe(s.mark);
        expect(s.priority).toBeGreaterThanOrEqual(0x4000);
        expect(s.priority).toBeLessThanOrEqual(0x4fff);
      }),
    );
  });

  it("keeps the first services apart", () => {
    const names = ["dhcp4", "ntp", "ra", "dhcp6", "echo", "heartbeat"];
    expect(new Set(names.map((n) => serviceSlot(n).mark)).size).toBe(names.length);
  });
});
