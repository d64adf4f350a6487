/**
 * The calf engine lane's list (test/calf-engine-lane.txt; scripts/test.sh runs its files a second
 * time with their calves on Node, the engine that is not the built-in services' default, issue 14
 * item 1): every test file
 * that starts a paddock with calves is either in the lane or named below with the reason it is
 * not, so a new calf or interop test cannot be left on one engine unnoticed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The lane's test files, as scripts/test.sh reads them: one path a line, # comments. */
const lane = readFileSync(path.join(root, "test/calf-engine-lane.txt"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

/** Tests that start calves and stay out of the lane, and why. */
const NOT_IN_LANE: Record<string, string> = {
  "test/calf-quickjs.test.ts": "runs the QuickJS calves itself (every dhcp4 lease scenario, NTP, RA, DHCPv6)",
  "test/calf-engine-default.test.ts": "the built-in services' default engine and its fallback to Node: it leaves out --calf-engine on purpose",
  "test/dhcp-shim-lease.test.ts": "its lease scenarios run on Node here and on QuickJS in test/calf-quickjs",
  "test/container-runtime.test.ts": "the container runtime's test: its scenarios choose their runtime and engine",
  "test/apply.test.ts": "`paddock serve` runs a deployment's calves on the engine the deployment names; the lane adds --calf-engine to calf commands only",
  "test/calf-wx.test.ts": "a C probe under a Node calf's OCI config: the Node sandbox's W^X",
  "test/hostile-calf.test.ts": "its calf is the hostile fixture, a Node calf",
  "test/example-service.test.ts": "a service run from its source: a Node calf only (paddock build makes Node calves)",
  "test/new-service.test.ts": "a scaffolded service: a Node calf only",
  "test/generate.test.ts": "a generated calf bundle: a Node calf only",
  "test/tx-timestamps.test.ts": "a fixture service run from its source: a Node calf only",
  "test/external-calves.test.ts": "calves started outside the priv: the test is their launcher",
  "test/pack.test.ts": "the packed artefact and the calves it carries",
  "test/kv-crash.test.ts": "paddock kv serve: no calf",
  "test/kv-escape.test.ts": "paddock kv serve: no calf",
  "test/kv-interop.test.ts": "paddock kv serve: no calf",
  "test/operator.test.ts": "the priv's status, sd_notify and signals: the calf's engine does not enter",
  "test/priv-sandbox.test.ts": "the priv's own sandbox: the calf's engine does not enter",
  "test/priv-start.test.ts": "the priv's start-up (the modules it loads, the early calf adopted); the QuickJS calf's early start is checked in test/calf-quickjs",
  "test/testkit.test.ts": "the testkit's own tests (its lanes included)",
};

/** A test file that starts a paddock (the testkit's startPaddock, or a helper built on it). */
const STARTS_PADDOCK = /\b(startPaddock|startShim|startPaddockNtp|startPaddockDhcp6|runLeaseScenario)\(/;

describe("the calf engine lane (test/calf-engine-lane.txt)", () => {
  it("names test files that exist, each once, none also excluded", () => {
    for (const f of lane) expect(existsSync(path.join(root, f)), f).toBe(true);
    expect(new Set(lane).size).toBe(lane.length);
    for (const f of lane) expect(NOT_IN_LANE[f], f).toBeUndefined();
  });

  it("holds every test that starts calves, or the test is named with the reason it is not", () => {
    const starting = readdirSync(path.join(root, "test"))
      .filter((f) => f.endsWith(".test.ts"))
      .map((f) => `test/${f}`)
      .filter((f) => STARTS_PADDOCK.test(readFileSync(path.join(root, f), "utf8")));
    expect(starting.length).toBeGreaterThan(20);
    const unclassified = starting.filter((f) => !lane.includes(f) && NOT_IN_LANE[f] === undefined);
    expect(unclassified, "add them to test/calf-engine-lane.txt, or to NOT_IN_LANE with the reason").toEqual([]);
  });
});
