// SIGHUP in the priv (issue 13 A3, A7): a reload computes the settings again and hands them to the
// host; a refusal is one log line and changes nothing; a SIGHUP before the hosts run is not the
// end of the process but one reload once they do.
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ServiceOptionError, type ReloadOutcome } from "@paddock/runtime";
import { ConfigFileError } from "../src/config-file.ts";
import { listenForReload, reloadOnce } from "../src/reload.ts";

/** A logger whose lines are kept as parsed JSON. */
function captured() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const log = pino({ base: null }, new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).trim().split("\n").map((l) => JSON.parse(l))), done()) }));
  return { log, lines };
}

/** A host whose reload records what it got and answers `outcome` (or throws `fail`). */
function host(outcome: ReloadOutcome = { applied: ["dhcp4.hostname"], needRestart: [], keys: ["dhcp4:/config/hostname"] }, fail?: Error) {
  const got: Array<Map<string, Record<string, string | number | boolean>>> = [];
  return {
    got,
    reload: async (s: ReadonlyMap<string, Readonly<Record<string, string | number | boolean>>>) => {
      got.push(new Map(s) as Map<string, Record<string, string | number | boolean>>);
      if (fail) throw fail;
      return outcome;
    },
  };
}

const settings = () => new Map([["dhcp4", { hostname: "new" }]]);
const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describe("reloadOnce", () => {
  it("hands the settings to the host and says what it applied and what needs a restart", async () => {
    const { log, lines } = captured();
    const h = host({ applied: ["dhcp4.hostname"], needRestart: ["dhcp4.resolv-conf"], keys: ["dhcp4:/config/hostname"] });
    expect(await reloadOnce(h, settings, log)).toBe(true);
    expect(h.got).toEqual([settings()]);
    expect(lines.map((l) => l.msg)).toEqual(["reload: dhcp4.resolv-conf changed but take effect only at a restart; running with the old values", "reloaded: dhcp4.hostname"]);
  });

  it.each([
    ["a configuration file error", () => { throw new ConfigFileError("PADDOCK_E_CONFIG_INVALID", "f.yaml", ["f.yaml:3: a", "f.yaml:4: b"]); }, undefined, "reload refused, running unchanged: f.yaml:3: a; f.yaml:4: b"],
    ["an option a service refuses", settings, new ServiceOptionError("options hostname and fqdn of dhcp4 are alternatives"), "reload refused, running unchanged: options hostname and fqdn of dhcp4 are alternatives"],
  ])("%s: one error line, nothing else", async (_kind, source, fail, line) => {
    const { log, lines } = captured();
    expect(await reloadOnce(host(undefined, fail), source, log)).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: line });
  });
});

describe("listenForReload", () => {
  it("reloads every target on each SIGHUP", async () => {
    const { log } = captured();
    const l = listenForReload(log);
    stops.push(l.stop);
    const a = host();
    const b = host();
    l.attach([{ host: a, settings, log }, { host: b, settings, log }]);
    process.emit("SIGHUP", "SIGHUP");
    process.emit("SIGHUP", "SIGHUP");
    await vi.waitFor(() => expect([a.got.length, b.got.length]).toEqual([2, 2]), { timeout: 10_000 });
  });

  it("keeps the process alive on a SIGHUP before the hosts run, and reloads once they do", async () => {
    const { log, lines } = captured();
    const l = listenForReload(log);
    stops.push(l.stop);
    process.emit("SIGHUP", "SIGHUP");
    expect(lines.map((x) => x.msg)).toEqual(["reloading the configuration once the services have started"]);
    const a = host();
    l.attach([{ host: a, settings, log }]);
    await vi.waitFor(() => expect(a.got).toHaveLength(1), { timeout: 10_000 });
  });

  it("stops listening when stopped", () => {
    const { log } = captured();
    const before = process.listenerCount("SIGHUP");
    const l = listenForReload(log);
    expect(process.listenerCount("SIGHUP")).toBe(before + 1);
    l.stop();
    expect(process.listenerCount("SIGHUP")).toBe(before);
  });
});
