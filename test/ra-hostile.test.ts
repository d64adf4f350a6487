/**
 * The RA service against a hostile router (issue 11 items 2, 6): a scripted sender in the lab's
 * router namespace puts frames made with the core's encoder (and hand-broken copies of them) on the
 * link with a raw packet socket (Python's AF_PACKET: nothing of Paddock's sends them), while
 * `paddock ra` runs in the client namespace:
 *
 * - a zero-length option, an option running past the end, a non-link-local source, hop limit 254:
 *   the calf ignores the whole message (RFC 4861 §6.1.2), so their prefixes never become addresses;
 * - 1000 options in one RA (jumbo frames on the veth) and 10 000 prefixes over a few hundred RAs: the
 *   core keeps at most 16 prefixes and the priv's schema would refuse more, so at most 16 addresses,
 *   the first (known) prefix among them;
 * - lifetimes infinite and 0: an infinite prefix's address lives "forever" in the kernel, a router
 *   lifetime of 0 makes no default route, a new prefix with valid lifetime 0 makes no address;
 * - and through all of it the priv and the calf keep running.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addresses, canCreateLabs, createLab, LAB_SKIP_REASON, routes, startPaddock, waitFor, type Lab, type Netns, type PaddockProcess } from "@paddock/testkit";
import { encodeNdPacket, icmpv6Checksum, INFINITE_LIFETIME, type NdOption, type RouterAdvertisement } from "../packages/services/ra/core/src/index.ts";

const TIMEOUT_MS = 30_000;
/** Jumbo frames: 1000 options (8 KB) and ~480 prefixes fit one RA. */
const MTU = 16_000;
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);
const GOOD = "2001:db8:1::";

/** Sends hex-encoded frames, one per line, on IFACE with a raw AF_PACKET socket. */
const SENDER = [
  "import socket, sys",
  "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
  "s.bind((sys.argv[1], 0))",
  "for line in open(sys.argv[2]):",
  "    line = line.strip()",
  "    if line: s.send(bytes.fromhex(line))",
].join("\n");

const ra = (options: NdOption[], routerLifetime = 0): RouterAdvertisement => ({ kind: "ra", curHopLimit: 64, managed: false, other: false, homeAgent: false, preference: "medium", proxy: false, routerLifetime, reachableTime: 0, retransTimer: 0, options });
const pio = (prefix: string, valid = INFINITE_LIFETIME, preferred = INFINITE_LIFETIME): NdOption => ({ kind: "prefix", prefixLength: 64, onLink: true, autonomous: true, routerAddress: false, validLifetime: valid, preferredLifetime: preferred, prefix: prefix as never });

describe.skipIf(!canCreateLabs)(`paddock ra against a hostile router (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  let lab: Lab;
  let router: Netns;
  let client: Netns;
  let routerIface: string;
  let routerMac: Uint8Array;
  let iface: string;
  let paddock: PaddockProcess;

  const frame = (message: RouterAdvertisement, opts: { source?: string; hopLimit?: number } = {}): Uint8Array => {
    const f = encodeNdPacket(message, { sourceMac: routerMac, destinationMac: ALL_NODES_MAC, source: opts.source ?? "fe80::bad", destination: "ff02::1", ...(opts.hopLimit !== undefined ? { hopLimit: opts.hopLimit } : {}) });
    if (!f.ok) throw new Error(f.error.detail);
    return f.value;
  };
  const send = async (frames: Uint8Array[]) => {
    const file = path.join(lab.dir, `frames-${Date.now()}.hex`);
    writeFileSync(file, frames.map((f) => Buffer.from(f).toString("hex")).join("\n") + "\n");
    const r = await lab.run(router, ["python3", "-c", SENDER, routerIface, file], { timeoutMs: 60_000 });
    if (r.status !== 0) throw new Error(`the sender failed: ${r.stderr}`);
  };
  const global6 = async () => (await addresses(client, iface, "inet6")).filter((a) => a.scope === "global");

  beforeAll(async () => {
    lab = createLab({ prefix: "ra6" });
    router = lab.namespace("router");
    client = lab.namespace("client");
    const link = lab.veth(router, client);
    routerIface = link.a.name;
    iface = link.b.name;
    routerMac = Uint8Array.from(link.a.mac.split(":").map((h) => parseInt(h, 16)));
    for (const [ns, dev] of [[router, routerIface], [client, iface]] as const) lab.exec(ns, ["ip", "link", "set", "dev", dev, "mtu", String(MTU)]);
    const runtimeDir = path.join(lab.dir, "run");
    lab.exec(null, ["mkdir", "-m", "0711", "-p", runtimeDir]);
    paddock = startPaddock(lab, client, ["ra", "--iface", iface, "--no-solicit", "--state-dir", path.join(lab.dir, "state"), "--runtime-dir", runtimeDir, "--admin-socket", path.join(lab.dir, "ra.sock"), "--resolv-conf", "", "--log-format", "json"]);
    await paddock.waitForLog(/RA client started/, { timeoutMs: TIMEOUT_MS });
  }, 2 * TIMEOUT_MS);

  afterAll(async () => {
    await lab?.destroy();
  });

  it("takes a good RA with infinite lifetimes and router lifetime 0: an address that lives forever, no default route", async () => {
    await send([frame(ra([pio(GOOD), pio("2001:db8:7::", 0, 0)]))]);
    const a = await waitFor(async () => (await global6()).find((x) => x.local.startsWith("2001:db8:1:")), { what: "the good prefix's address", timeoutMs: TIMEOUT_MS, abortOnExit: paddock, state: () => paddock.tail() });
    expect(a.valid_life_time).toBe(INFINITE_LIFETIME);
    expect(a.preferred_life_time).toBe(INFINITE_LIFETIME);
    expect((await routes(client, "inet6")).some((r) => r.dst === "default")).toBe(false);
    expect((await global6()).some((x) => x.local.startsWith("2001:db8:7:"))).toBe(false);
  }, 2 * TIMEOUT_MS);

  it("ignores whole RAs with a zero-length option, an option past the end, a non-link-local source or hop limit 254", async () => {
    const zero = frame(ra([pio("2001:db8:b1::")]));
    zero[14 + 40 + 16 + 1] = 0; // the prefix option's length
    const past = frame(ra([pio("2001:db8:b2::")]));
    past[14 + 40 + 16 + 1] = 9;
    const global = frame(ra([pio("2001:db8:b3::")]), { source: "2001:db8::bad" });
    const hop = frame(ra([pio("2001:db8:b4::")]), { hopLimit: 254 });
    // The checksum made right again, so only the broken option is wrong.
    for (const f of [zero, past]) {
      f[14 + 42] = f[14 + 43] = 0;
      const sum = icmpv6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54));
      f[14 + 42] = sum >> 8;
      f[14 + 43] = sum & 0xff;
    }
    await send([zero, past, global, hop, frame(ra([pio(GOOD), pio("2001:db8:b5::")]))]);
    // The last, valid RA is taken: once its prefix shows, the earlier ones have been judged.
    await waitFor(async () => (await global6()).some((x) => x.local.startsWith("2001:db8:b5:")), { what: "the valid RA after the broken ones", timeoutMs: TIMEOUT_MS, abortOnExit: paddock, state: () => paddock.tail() });
    const seen = (await global6()).map((x) => x.local);
    for (const p of ["b1", "b2", "b3", "b4"]) expect(seen.some((x) => x.startsWith(`2001:db8:${p}:`)), p).toBe(false);
  }, 2 * TIMEOUT_MS);

  it("1000 options and 10 000 prefixes: at most 16 addresses, the known ones kept, nothing crashes", async () => {
    const unknown: NdOption[] = Array.from({ length: 999 }, () => ({ kind: "unknown", type: 200, bytes: new Uint8Array(6) }));
    const frames = [frame(ra([...unknown, pio("2001:db8:c0::")]))];
    const perFrame = Math.floor((MTU - 40 - 16) / 32);
    for (let i = 0; i < 10_000; i += perFrame) {
      frames.push(frame(ra(Array.from({ length: Math.min(perFrame, 10_000 - i) }, (_, j) => pio(`2001:db8:${(0x1000 + i + j).toString(16)}::`)))));
    }
    await send(frames);
    await send([frame(ra([pio(GOOD)]))]);
    await waitFor(async () => (await global6()).some((x) => x.local.startsWith("2001:db8:c0:")), { what: "the 1000-option RA's prefix", timeoutMs: TIMEOUT_MS, abortOnExit: paddock, state: () => paddock.tail() });
    // The flood has been read once the kernel holds 16 of ours (the bound), or after the last frame was handled.
    await waitFor(async () => (await global6()).length >= 16, { what: "the flood's first prefixes up to the bound", timeoutMs: TIMEOUT_MS, abortOnExit: paddock, state: () => paddock.tail() });
    const ours = await global6();
    expect(ours.length).toBeLessThanOrEqual(16);
    expect(ours.some((x) => x.local.startsWith("2001:db8:1:"))).toBe(true);
    expect(paddock.running).toBe(true);
  }, 3 * TIMEOUT_MS);
});
