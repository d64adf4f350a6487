/**
 * `paddock ntp`, `paddock ra` and `paddock dhcp6` (packages/cli/src/commands/single-service.ts):
 * the mistakes a user can make on their command lines are refused in one sentence before anything
 * starts, and each --help lists the priv options they share with `paddock run`; `paddock describe`
 * names a service's calf engine. No root needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { paddock } from "./helpers/paddock.ts";

const work = mkdtempSync(path.join(tmpdir(), "paddock-single-service-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const COMMANDS = [
  { name: "ntp", args: ["--server", "192.0.2.1"], what: "the NTP client", twice: "paddock ntp runs on one interface: give --iface once (the servers are reached through it)" },
  { name: "ra", args: [], what: "the RA client", twice: "paddock ra runs on one interface: give --iface once (run one per interface)" },
  { name: "dhcp6", args: [], what: "the DHCPv6 client", twice: "paddock dhcp6 runs on one interface: give --iface once (paddock run dhcp6 --iface A --iface B runs it on several)" },
];

describe("single-service commands", () => {
  for (const c of COMMANDS) {
    it(`paddock ${c.name}: no --iface, two --iface, and its --help`, () => {
      const none = paddock([c.name, ...c.args]);
      expect({ status: none.status, line: none.stderr.trim() }).toEqual({ status: 1, line: `paddock: --iface is required: name the interface to run ${c.what} on (e.g. --iface eth0; repeat it for several)` });
      const twice = paddock([c.name, "--iface", "eth8", "--iface", "eth9", ...c.args]);
      expect({ status: twice.status, line: twice.stderr.trim() }).toEqual({ status: 1, line: `paddock: ${c.twice}` });
      const help = paddock([c.name, "--help"]);
      expect(help.status).toBe(0);
      for (const option of ["--iface <name>", "--state-dir <dir>", "--runtime-dir <dir>", "--admin-socket <path>", "--metrics <address>", "--no-sandbox", "--calf-engine <engine>", "--container-runtime <runtime>", "--config <path>", "--log-level <level>", "--log-format <format>"]) {
        expect(help.stdout, `${c.name} --help: ${option}`).toContain(option);
      }
      expect(help.stdout.replace(/\s+/g, " ")).toContain(`/var/lib/paddock/${c.name}-IFACE`);
    });
  }

  it("paddock ntp without a server (none on the command line, none in the configuration file)", () => {
    const config = path.join(work, "paddock.yaml");
    writeFileSync(config, "interfaces:\n  eth9:\n    ntp: {}\n");
    const r = paddock(["ntp", "--iface", "eth9", "--config", config]);
    expect({ status: r.status, line: r.stderr.trim() }).toEqual({ status: 1, line: "paddock: paddock ntp needs a server: --server IP (repeat it for several), or server: in the configuration file" });
  });
});

describe("paddock describe", () => {
  it("names each built-in service's calf engine, with Node as its fallback, and the engine of a user's service", () => {
    for (const service of ["dhcp4", "ntp", "ra", "dhcp6"]) {
      const r = paddock(["describe", service]);
      expect(r.status, service).toBe(0);
      expect(r.stdout, service).toMatch(/^calf: \S+ on quickjs \(node where its QuickJS executable is not built, or with --calf-engine node\); memory \d+ MiB/m);
    }
    const example = paddock(["describe", path.join(import.meta.dirname, "../examples/heartbeat/service.ts")]);
    expect(example.stdout).toMatch(/^calf: \S+ on node; memory \d+ MiB/m);
  });
});
