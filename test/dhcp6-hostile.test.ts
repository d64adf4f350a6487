/**
 * `paddock dhcp6` against hostile DHCPv6 (issue 11 item 6):
 *   - a scripted server (test/dhcp6-responder.ts, built on the @paddock/dhcp6 codec) whose first
 *     three answers are REPLYs with rapid commit that must never be believed — a wrong transaction
 *     id, another client's DUID, an IA_PD whose PD_EXCLUDE overflows, ~3200 options — and then an
 *     honest one. The honest address is applied; the hostile address 2001:db8:6::bad never reaches
 *     the store, its audit log or the handler; the calf never restarts and the priv never dies;
 *   - a hostile calf (test/fixtures/dhcp6-hostile-calf.ts in the DHCPv6 service's slot) sending to
 *     another port, another multicast group, a server's unicast address and an IPv4 address: the
 *     priv refuses each (counted by reason in paddock_egress_rejected_total) and only its control
 *     datagram, to ff02::1:2 port 547, reaches the wire.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { bundleCalf } from "../packages/bundler/src/bundle-calf.ts";
import { canCreateLabs, LAB_SKIP_REASON, waitFor, type LabProcess } from "@paddock/testkit";
import { dhcp6Lab, DHCP6_TIMEOUT_MS, globals6, ownClient, ownLab } from "./dhcp6-lab.ts";

const TSX = path.join(import.meta.dirname, "../node_modules/.bin/tsx");
const HOSTILE = "2001:db8:6::bad";
const HONEST = "2001:db8:6::abc";

/** Every file's text under `dir` (the store, its audit log, the ownership records). */
function allText(dir: string): string {
  return readdirSync(dir).map((f) => path.join(dir, f)).filter((f) => statSync(f).isFile()).map((f) => readFileSync(f, "utf8")).join("\n");
}

// Concurrent: each test has a lab of its own and waits mostly on the client's SOLICIT
// retransmissions (1, 2, 4 s: RFC 8415 §15), not on the CPU; vitest's maxConcurrency
// (vitest.config.ts) bounds how many run at once. docs/testing.md has the measurements.
describe.skipIf(!canCreateLabs).concurrent(`paddock dhcp6 against hostile servers and a hostile calf (${canCreateLabs ? "root" : LAB_SKIP_REASON})`, () => {
  it.for(["wrong-xid", "wrong-duid", "pd-exclude-overflow", "huge-options"])("three %s REPLYs are never believed; the honest one after them is applied", { timeout: 90_000 }, async (behaviour, { onTestFinished }) => {
    const lab = ownLab(onTestFinished);
    const net = dhcp6Lab(lab);
    const responder: LabProcess = lab.spawn(net.server, [TSX, path.join(import.meta.dirname, "dhcp6-responder.ts"), net.serverIf, behaviour, "3"], { name: "dhcp6 responder" });
    await responder.waitForLog(/^ready$/m, { timeoutMs: DHCP6_TIMEOUT_MS });
    const client = await ownClient(onTestFinished, lab, net.client, net.clientIf, behaviour === "pd-exclude-overflow" ? ["--ia-pd", "56"] : []);
    const c = client;
    const got = await waitFor(() => globals6(lab!, net.client, net.clientIf).find((a) => a.local === HONEST), { what: `${HONEST} after three ${behaviour} REPLYs`, timeoutMs: 2 * DHCP6_TIMEOUT_MS, abortOnExit: [c.paddock, responder], state: () => `${responder.tail()}\n${c.paddock.tail()}` });
    expect(got.prefixlen).toBe(128);
    // The responder logs an answer once it is sent, and the address check above reads no output:
    // its line of the honest answer, which follows the three hostile ones, may still be unread.
    await responder.waitForLog(/^sent honest /m, { timeoutMs: DHCP6_TIMEOUT_MS });
    expect(responder.lines(new RegExp(`^sent ${behaviour} `))).toHaveLength(3);
    expect(responder.lines(/^sent honest /).length).toBeGreaterThanOrEqual(1);
    expect(globals6(lab, net.client, net.clientIf).map((a) => a.local)).not.toContain(HOSTILE);
    expect(c.paddock.output).not.toContain(HOSTILE);
    expect(allText(lab.file("dhcp6-state"))).not.toContain(HOSTILE);
    expect(c.paddock.output).not.toMatch(/calf exited/);
    expect(c.paddock.running).toBe(true);
  });

  it("a hostile calf's datagrams to another port or address are refused; only ff02::1:2 port 547 leaves", async ({ onTestFinished }) => {
    const lab = ownLab(onTestFinished);
    const net = dhcp6Lab(lab);
    const calfDir = lab.file("hostile-calf");
    await bundleCalf(path.join(import.meta.dirname, "fixtures/dhcp6-hostile-calf.ts"), path.join(calfDir, "calf-dhcp6.mjs"));
    // Everything UDP on the link, as the server side sees it.
    const capture = lab.spawn(net.server, ["tcpdump", "-l", "-n", "-i", net.serverIf, "udp"], { name: "tcpdump" });
    await capture.waitForLog(/listening on/, { timeoutMs: DHCP6_TIMEOUT_MS });
    const metrics = lab.file("metrics.sock");
    const client = await ownClient(onTestFinished, lab, net.client, net.clientIf, ["--metrics", metrics], "dhcp6", { PADDOCK_CALF_DIR: calfDir });
    const c = client;
    await c.paddock.waitForLog(/hostile calf: all sent/, { timeoutMs: DHCP6_TIMEOUT_MS });
    let last = "";
    const rejected = await waitFor(async () => {
      const text = (last = await scrape(metrics));
      const count = (reason: string) => {
        const line = text.split("\n").find((l) => l.startsWith("paddock_egress_rejected_total{") && l.includes('service="dhcp6"') && l.includes(`reason="${reason}"`));
        return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
      };
      const r = { ports: count("PADDOCK_E_EGRESS_PORTS"), peer: count("PADDOCK_E_EGRESS_PEER") };
      return r.ports >= 1 && r.peer >= 3 ? r : undefined;
    }, { what: "the calf's datagrams refused by port and by peer", timeoutMs: DHCP6_TIMEOUT_MS, abortOnExit: c.paddock, state: () => last.split("\n").filter((l) => l.includes("egress")).join("\n") || c.paddock.tail() });
    expect(rejected).toEqual({ ports: 1, peer: 3 });
    // The kernel's second line is in place: the service's own tc egress program (IPv6 UDP 546 → 547), attached and counting.
    expect(last).toMatch(/^paddock_tc_egress_dropped_total\{service="dhcp6"[^}]*\} \d+$/m);
    // The control datagram reached the wire; nothing else the calf sent did.
    await waitFor(() => capture.lines(/ff02::1:2\.547: /).length >= 1, { what: "the control datagram on the wire", timeoutMs: DHCP6_TIMEOUT_MS });
    const udp = capture.lines(/ > /);
    expect(udp.filter((l) => !/ff02::1:2\.547: /.test(l))).toEqual([]);
    expect(c.paddock.running).toBe(true);
  }, 90_000);
});

/** The metrics text from a Unix socket. */
async function scrape(socket: string): Promise<string> {
  const http = await import("node:http");
  return new Promise((resolve, reject) => {
    http.get({ socketPath: socket, path: "/metrics" }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}
