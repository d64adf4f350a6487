// How the operator's commands find a running service's admin socket (issue 13 A3): by interface
// and service in the runtime directory (RUNTIME_DIR/SERVICE-IFACE.sock), each refusal one sentence.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findAdminSocket, listAdminSockets } from "../src/commands/operator.ts";

const dir = mkdtempSync(path.join(tmpdir(), "paddock-sockets-"));
const servers: net.Server[] = [];

async function listen(name: string): Promise<void> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(path.join(dir, name), resolve));
  servers.push(s);
}

beforeAll(async () => {
  for (const name of ["dhcp4-eth0.sock", "dhcp4-eth1.sock", "ntp-eth1.sock", "Bad-eth0.sock"]) await listen(name);
  writeFileSync(path.join(dir, "dhcp4-eth2.sock"), ""); // a plain file is no socket
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe("admin sockets by interface", () => {
  it("lists the sockets named SERVICE-IFACE.sock, and nothing else", () => {
    expect(listAdminSockets(dir).map((s) => `${s.service}@${s.iface}`)).toEqual(["dhcp4@eth0", "dhcp4@eth1", "ntp@eth1"]);
    expect(listAdminSockets(path.join(dir, "absent"))).toEqual([]);
  });

  it("picks the only service on an interface, or the one named", () => {
    expect(findAdminSocket({ iface: "eth0", runtimeDir: dir }).path).toBe(path.join(dir, "dhcp4-eth0.sock"));
    expect(findAdminSocket({ iface: "eth1", service: "ntp", runtimeDir: dir }).path).toBe(path.join(dir, "ntp-eth1.sock"));
    expect(findAdminSocket({ socket: "/x/y.sock", runtimeDir: dir }).path).toBe("/x/y.sock");
  });

  it("says in one sentence when the choice is ambiguous or nothing runs there", () => {
    expect(() => findAdminSocket({ iface: "eth1", runtimeDir: dir })).toThrow(`several services run on eth1 (dhcp4, ntp): choose one with --service`);
    expect(() => findAdminSocket({ iface: "eth9", runtimeDir: dir })).toThrow(`no Paddock service is running on eth9: there is no admin socket for it in ${dir} (is paddock dhcp --iface eth9 running, with this --runtime-dir?)`);
    expect(() => findAdminSocket({ iface: "eth0", service: "ntp", runtimeDir: dir })).toThrow(`the service ntp is not running on eth0: there is no ntp-eth0.sock in ${dir} (running there: dhcp4)`);
    expect(() => findAdminSocket({ runtimeDir: dir })).toThrow(`several services are running (dhcp4 on eth0, dhcp4 on eth1, ntp on eth1): choose one with --iface and --service`);
    expect(() => findAdminSocket({ runtimeDir: path.join(dir, "absent") })).toThrow(/^no Paddock service is running: there is no admin socket in /);
    expect(findAdminSocket({ service: "ntp", runtimeDir: dir }).iface).toBe("eth1");
  });
});
