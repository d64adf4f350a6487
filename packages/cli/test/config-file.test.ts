// The configuration file (issue 13 A5): every kind of problem is one line naming file:line and the
// setting; defaults, per-interface sections and the command line in their documented precedence; a
// missing default file is fine, a missing explicit one is not; and no YAML text makes the parser
// throw anything but ConfigFileError.
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { defineService } from "@paddock/runtime";
import { dhcp4Service } from "@paddock/service-dhcp4";
import { ConfigFileError, EMPTY_CONFIG, loadConfigFile, MAX_CONFIG_BYTES, parseConfigText, resolveOptions, settingsFor } from "../src/config-file.ts";

const F = "paddock.yaml";
const parse = (text: string) => parseConfigText(text, F, [dhcp4Service]);
const problems = (text: string): string[] => {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigFileError);
    return [...(err as ConfigFileError).problems];
  }
  throw new Error("the text was accepted");
};
const codeOf = (text: string) => {
  try {
    parse(text);
    return "ok";
  } catch (err) {
    return (err as ConfigFileError).code;
  }
};

describe("a valid file", () => {
  const text = [
    "# the operator's file",
    "defaults:",
    "  dhcp4:",
    "    vendor-class: acme-router",
    "    hostname: everyone",
    "interfaces:",
    "  eth0:",
    "    dhcp4:",
    "      hostname: gw",
    "      client-id: mac",
    "      request-options: [1, 3, 6, 121]",
    "      min-lease-seconds: 30",
    "      keep-lease-on-reboot-timeout: false",
    "  eth1: {}",
    "",
  ].join("\n");

  it("gives defaults to every interface and lets an interface's section win", () => {
    const c = parse(text);
    expect(settingsFor(c, "eth0", "dhcp4")).toEqual({ "vendor-class": "acme-router", hostname: "gw", "client-id": "mac", "request-options": "1, 3, 6, 121", "min-lease-seconds": 30, "keep-lease-on-reboot-timeout": false });
    expect(settingsFor(c, "eth1", "dhcp4")).toEqual({ "vendor-class": "acme-router", hostname: "everyone" });
    expect(settingsFor(c, "eth9", "dhcp4")).toEqual({ "vendor-class": "acme-router", hostname: "everyone" });
    expect(settingsFor(c, "eth0", "other")).toEqual({});
  });

  it("lets the command line win over both", () => {
    expect(settingsFor(parse(text), "eth0", "dhcp4", { hostname: "flag", "min-lease-seconds": "5" })).toMatchObject({ hostname: "flag", "min-lease-seconds": "5", "vendor-class": "acme-router" });
  });

  it("keeps text as written: hex stays hex, digits stay digits", () => {
    const c = parse("defaults:\n  dhcp4:\n    duid: 000300010203\n    hostname: 123\n    vendor-class: 'yes'\n");
    expect(settingsFor(c, "x", "dhcp4")).toEqual({ duid: "000300010203", hostname: "123", "vendor-class": "yes" });
  });

  it("records the line of each setting", () => {
    expect(parse(text).interfaces.get("eth0")!.get("dhcp4")!.get("client-id")).toEqual({ value: "mac", line: 10 });
  });

  it("may be empty, or only comments", () => {
    expect(settingsFor(parse(""), "eth0", "dhcp4")).toEqual({});
    expect(settingsFor(parse("# nothing yet\n"), "eth0", "dhcp4")).toEqual({});
    expect(settingsFor(parse("defaults:\ninterfaces:\n"), "eth0", "dhcp4")).toEqual({});
  });
});

describe("each problem is one line naming file:line and the setting", () => {
  it.each([
    ["a value of the wrong kind", "defaults:\n  dhcp4:\n    min-lease-seconds: x\n", `${F}:3: defaults.dhcp4.min-lease-seconds must be a whole number 1–60, not "x"`],
    ["a number an option words itself", "interfaces:\n  eth0:\n    dhcp4:\n      route-metric: x\n", `${F}:4: interfaces.eth0.dhcp4.route-metric must be a whole number 0–4294967295, not "x"`],
    ["a value the option refuses", "interfaces:\n  eth0:\n    dhcp4:\n      vendor-class: \"caf\\u00e9\"\n", `${F}:4: interfaces.eth0.dhcp4.vendor-class must be printable ASCII, 1–255 bytes, not "café"`],
    ["a boolean that is not", "defaults:\n  dhcp4:\n    keep-lease-on-reboot-timeout: maybe\n", `${F}:3: defaults.dhcp4.keep-lease-on-reboot-timeout must be true or false, not "maybe"`],
    ["no value", "defaults:\n  dhcp4:\n    hostname:\n", `${F}:3: defaults.dhcp4.hostname has no value`],
    ["a mapping for a value", "defaults:\n  dhcp4:\n    hostname: {a: 1}\n", `${F}:3: defaults.dhcp4.hostname must be text, not a mapping`],
    ["a list for a number", "defaults:\n  dhcp4:\n    iaid: [1]\n", `${F}:3: defaults.dhcp4.iaid must be a number, not a list`],
    ["an unknown section", "\ninterface:\n  eth0: {}\n", `${F}:2: "interface" is not a section of the configuration file (it has: defaults, interfaces)`],
    ["a bad interface name", "interfaces:\n  \"eth 0\": {}\n", `${F}:2: interfaces: "eth 0" is not an interface name (1–15 characters, no '/', ':' or spaces)`],
    ["a section that is not a mapping", "interfaces: [eth0]\n", `${F}:1: interfaces must be a mapping of interface names`],
    ["an alias", "defaults: &d\n  dhcp4: {}\ninterfaces:\n  eth0: *d\n", `${F}:4: interfaces.eth0: anchors and aliases are not used in this file`],
    ["a file that is a list", "- dhcp4\n", `${F}:1: the file must be a mapping of sections`],
  ])("%s", (_kind, text, line) => {
    expect(problems(text)).toEqual([line]);
  });

  it("an unknown service lists the known ones", () => {
    expect(problems("defaults:\n  dhcp6: {}\n")).toEqual([`${F}:2: defaults.dhcp6: there is no service dhcp6 (known: dhcp4)`]);
  });

  it("an unknown option lists the service's options", () => {
    const [p] = problems("defaults:\n  dhcp4:\n    hostnme: x\n");
    expect(p).toMatch(new RegExp(`^${F}:3: defaults\\.dhcp4\\.hostnme: dhcp4 has no option hostnme \\(it has: hostname, set-hostname, .*vendor-class.*\\)$`));
  });

  it("an option another service declares is settable without this code knowing it", () => {
    const ntp = defineService({ ...dhcp4Service, name: "ntp", options: { "route-metric": { kind: "number", description: "m", validate: (v: string | boolean | number) => (Number(v) >= 0 && Number(v) <= 4294967295 ? undefined : "must be a number 0–4294967295") } }, setup: undefined });
    const text = "interfaces:\n  eth0:\n    ntp:\n      route-metric: 7\n    dhcp4:\n      hostname: a\n";
    expect(settingsFor(parseConfigText(text, F, [dhcp4Service, ntp]), "eth0", "ntp")).toEqual({ "route-metric": 7 });
    expect(() => parseConfigText("interfaces:\n  eth0:\n    ntp:\n      route-metric: -1\n", F, [ntp])).toThrow(`${F}:4: interfaces.eth0.ntp.route-metric must be a number 0–4294967295, not -1`);
  });

  it("lists every problem of the file at once, each on its line", () => {
    expect(problems("defaults:\n  dhcp4:\n    iaid: x\n    fqdn: 'a b'\ninterfaces:\n  eth0:\n    nope: {}\n")).toEqual([
      `${F}:3: defaults.dhcp4.iaid must be a number 0–4294967295, not "x"`,
      `${F}:4: defaults.dhcp4.fqdn must be a domain name (letters, digits, '-', '_', dots), not "a b"`,
      `${F}:7: interfaces.eth0.nope: there is no service nope (known: dhcp4)`,
    ]);
  });

  it("YAML syntax: the line of the mistake", () => {
    expect(codeOf("defaults:\n  dhcp4:\n    hostname: [a\n")).toBe("PADDOCK_E_CONFIG_SYNTAX");
    expect(problems("defaults:\n  dhcp4: {}\ndefaults: {}\n")).toEqual([`${F}:3: not valid YAML: Map keys must be unique`]);
  });
});

describe("the file on disk", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "pdcf-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a missing default file means no settings; a missing explicit file is an error", () => {
    const missing = path.join(dir, "absent.yaml");
    expect(loadConfigFile(missing, false, [dhcp4Service])).toBe(EMPTY_CONFIG);
    expect(() => loadConfigFile(missing, true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_MISSING", message: `the configuration file ${missing} does not exist` }));
  });

  it("a directory, or a file too large, is refused in one sentence", () => {
    const sub = mkdtempSync(path.join(dir, "d-"));
    expect(() => loadConfigFile(sub, true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_UNREADABLE", message: `cannot read the configuration file ${sub}: EISDIR` }));
    const big = path.join(dir, "big.yaml");
    writeFileSync(big, "#".repeat(MAX_CONFIG_BYTES + 1));
    expect(() => loadConfigFile(big, true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_TOO_LARGE" }));
  });

  it("refuses a file (or its directory) that anyone but the priv's user could change", () => {
    const safe = path.join(dir, "safe.yaml");
    writeFileSync(safe, "defaults: {}\n", { mode: 0o644 });
    expect(loadConfigFile(safe, true, [dhcp4Service]).file).toBe(safe);
    expect(() => loadConfigFile(safe, true, [dhcp4Service], 4242)).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_UNSAFE", message: `the configuration file ${safe} belongs to uid ${process.getuid!()}, so that user could make the priv write any file or run any program; chown root ${safe}` }));
    const open = path.join(dir, "open.yaml");
    writeFileSync(open, "defaults: {}\n");
    chmodSync(open, 0o664);
    expect(() => loadConfigFile(open, true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_UNSAFE", message: `the configuration file ${open} is writable by group or others (mode 0664), so they could make the priv write any file or run any program; chmod go-w ${open}` }));
    const shared = mkdtempSync(path.join(dir, "shared-"));
    chmodSync(shared, 0o777);
    writeFileSync(path.join(shared, "p.yaml"), "defaults: {}\n", { mode: 0o644 });
    expect(() => loadConfigFile(path.join(shared, "p.yaml"), true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_UNSAFE", message: expect.stringMatching(/^the configuration file's directory .* is writable by group or others \(mode 0777\)/) }));
    // A symlink is judged by what it points to.
    const link = path.join(dir, "link.yaml");
    symlinkSync(open, link);
    expect(() => loadConfigFile(link, true, [dhcp4Service])).toThrow(expect.objectContaining({ code: "PADDOCK_E_CONFIG_UNSAFE" }));
  });

  it("resolveOptions: the file, then the command line, for the running services; the built-in ones may be configured too", () => {
    const file = path.join(dir, "paddock.yaml");
    writeFileSync(file, "defaults:\n  dhcp4:\n    hostname: from-file\n    vendor-class: v\n");
    const other = defineService({ ...dhcp4Service, name: "other", options: {}, setup: undefined });
    const got = resolveOptions({ configPath: file, iface: "eth0", services: [{ definition: other, flags: {} }], otherServices: [dhcp4Service] });
    expect(got).toEqual(new Map([["other", {}]]));
    const dhcp = resolveOptions({ configPath: file, iface: "eth0", services: [{ definition: dhcp4Service, flags: { hostname: "flag" } }] });
    expect(dhcp.get("dhcp4")).toEqual({ hostname: "flag", "vendor-class": "v" });
  });
});

describe("any YAML", () => {
  const fragments = ["defaults:", "interfaces:", "dhcp4:", "eth0:", "  ", "    ", "\n", "- ", "hostname: ", "iaid: ", "vendor-class: ", "request-options: ", "[", "]", "{", "}", ",", "&a ", "*a", "!!binary ", "!!str ", "? ", "'", '"', "#", "~", "null", "1e309", "0x1f", "-1", "true", "\t", "\u0085", "\u2028", "%YAML 1.2\n---\n", "---\n", "...\n", "<<: ", "| \n  x", "> \n  x"];
  it("is a configuration or a ConfigFileError, never another exception", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.constantFrom(...fragments), { maxLength: 40 }).map((a) => a.join(""))), (text) => {
        try {
          parse(text);
        } catch (err) {
          if (!(err instanceof ConfigFileError)) throw err;
          for (const p of err.problems) expect(p).toMatch(/^paddock\.yaml(:\d+)?: [^\n]+$/);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
