/** sd_listen_fds(3) parsing for calves started outside the priv (../src/sandbox/listen-fds.ts). */
import { describe, expect, it } from "vitest";
import { parseListenFds } from "../src/sandbox/listen-fds.ts";

describe("parseListenFds", () => {
  it("names fds 3… by LISTEN_FDNAMES when LISTEN_PID is this process", () => {
    expect([...parseListenFds({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "dhcp4-eth0:ntp-eth0" }, 42)]).toEqual([["dhcp4-eth0", 3], ["ntp-eth0", 4]]);
  });

  it("ignores variables meant for another process, and their absence", () => {
    expect(parseListenFds({ LISTEN_PID: "41", LISTEN_FDS: "1", LISTEN_FDNAMES: "x" }, 42).size).toBe(0);
    expect(parseListenFds({}, 42).size).toBe(0);
  });

  it("refuses a count that is not one, and names that do not match the count, in one sentence", () => {
    expect(() => parseListenFds({ LISTEN_PID: "42", LISTEN_FDS: "many", LISTEN_FDNAMES: "x" }, 42)).toThrow(/PADDOCK_E_SANDBOX_LISTEN_FDS: LISTEN_FDS="many" is not a number of descriptors/);
    expect(() => parseListenFds({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "x" }, 42)).toThrow(/LISTEN_FDNAMES names 1 descriptors, LISTEN_FDS says 2: give each calf's \.socket unit FileDescriptorName=CALF/);
    expect(() => parseListenFds({ LISTEN_PID: "42", LISTEN_FDS: "1" }, 42)).toThrow(/LISTEN_FDNAMES names no descriptors/);
  });
});
