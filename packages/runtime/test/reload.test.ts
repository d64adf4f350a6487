// Unit tests of a reload (reloadServices): live options reach the service's keys in one commit,
// options that are not live are named and keep their running values, and a refused value —
// anywhere, in any service — changes nothing at all.
import { describe, expect, it } from "vitest";
import { reloadServices, type ReloadTarget } from "../src/reload.ts";
import { parseServiceOptions, ServiceOptionError, type ServiceDefinition } from "../src/service.ts";

const base = {
  description: "a test service",
  channels: { udp: { kind: "udp", localPort: 0, remotePort: 7, maxDatagramBytes: 512 } },
  schema: { entries: [], maxTotalBytes: 4096 },
  calf: { entry: "./calf.ts", memoryMiB: 64, pids: 32, sendRate: { perSecond: 5, burst: 10 } },
} as const;

const echo = {
  ...base,
  name: "echo",
  options: {
    peer: { kind: "string", live: true, description: "the server", validate: (v: string | boolean | number) => (String(v).includes(" ") ? "must have no spaces" : undefined) },
    count: { kind: "number", live: true, description: "how many", default: 3 },
    path: { kind: "string", description: "where (needs a restart)", default: "/tmp/x" },
  },
} as const satisfies ServiceDefinition<any>;

const other = { ...base, name: "other", options: { word: { kind: "string", live: true, description: "a word" } } } as const satisfies ServiceDefinition<any>;

/** A running service over a plain map as its store, recording its commits. */
function target(def: ServiceDefinition<any>, running: Record<string, string | number | boolean>, keys: (o: Record<string, unknown>) => Record<string, string | null>, refuse?: string) {
  const store = new Map<string, string>();
  const commits: Array<Record<string, string | null>> = [];
  const t: ReloadTarget & { store: Map<string, string>; commits: typeof commits } = {
    def,
    setup: { reload: (o) => keys(o) },
    options: parseServiceOptions(def, running),
    value: (p) => store.get(p),
    commit: async (changes) => {
      if (refuse && refuse in changes) throw new Error(`${refuse} refused by the schema`);
      commits.push({ ...changes });
      for (const [k, v] of Object.entries(changes)) (v === null ? store.delete(k) : store.set(k, v));
    },
    store,
    commits,
  };
  for (const [k, v] of Object.entries(keys(t.options))) if (v !== null) store.set(k, v);
  return t;
}

const echoKeys = (o: Record<string, unknown>) => {
  if (o.peer === "both") throw new ServiceOptionError("peer both is refused by setup");
  return { "/config/peer": (o.peer as string | undefined) ?? null, "/config/count": String(o.count) };
};

describe("reloadServices", () => {
  it("commits the changed keys of live options in one commit and keeps unchanged keys out of it", async () => {
    const t = target(echo, { peer: "a", count: 3 }, echoKeys);
    const r = await reloadServices([t], new Map([["echo", { peer: "b", count: "3" }]]));
    expect(r).toEqual({ applied: ["echo.peer"], needRestart: [], keys: ["echo:/config/peer"] });
    expect(t.commits).toEqual([{ "/config/peer": "b" }]);
    expect(t.options.peer).toBe("b");
  });

  it("deletes the key of an option the new configuration no longer sets", async () => {
    const t = target(echo, { peer: "a" }, echoKeys);
    await reloadServices([t], new Map([["echo", {}]]));
    expect(t.commits).toEqual([{ "/config/peer": null }]);
    expect(t.store.has("/config/peer")).toBe(false);
  });

  it("names options that need a restart and keeps their running values", async () => {
    const t = target(echo, {}, echoKeys);
    const r = await reloadServices([t], new Map([["echo", { path: "/elsewhere", count: 4 }]]));
    expect(r.needRestart).toEqual(["echo.path"]);
    expect(r.applied).toEqual(["echo.count"]);
    expect(t.options.path).toBe("/tmp/x");
    expect(t.options.count).toBe(4);
  });

  it("changes nothing, in any service, when one value is refused", async () => {
    const a = target(other, { word: "x" }, (o) => ({ "/config/word": (o.word as string) ?? null }));
    const b = target(echo, {}, echoKeys);
    const bads: Array<Record<string, string>> = [{ peer: "has space" }, { count: "many" }, { nope: "1" }, { peer: "both" }];
    for (const bad of bads) {
      await expect(reloadServices([a, b], new Map<string, Record<string, string>>([["other", { word: "y" }], ["echo", bad]]))).rejects.toThrow(ServiceOptionError);
      expect(a.commits).toEqual([]);
      expect(b.commits).toEqual([]);
      expect(a.options.word).toBe("x");
    }
  });

  it("reports a key the store refuses as a ServiceOptionError and keeps the running options", async () => {
    const t = target(echo, { peer: "a" }, echoKeys, "/config/peer");
    await expect(reloadServices([t], new Map([["echo", { peer: "b" }]]))).rejects.toThrow(/echo cannot take the new configuration: \/config\/peer refused/);
    expect(t.options.peer).toBe("a");
  });

  it("treats a live option of a service without a reload hook as needing a restart", async () => {
    const t = target(echo, {}, echoKeys);
    const bare: ReloadTarget = { ...t, setup: {}, options: t.options, value: t.value, commit: t.commit };
    const r = await reloadServices([bare], new Map([["echo", { peer: "z" }]]));
    expect(r).toEqual({ applied: [], needRestart: ["echo.peer"], keys: [] });
  });
});
