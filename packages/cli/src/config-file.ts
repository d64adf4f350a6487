/**
 * The configuration file (default /etc/paddock/paddock.yaml): service options per interface.
 *
 *     defaults:                  # for every interface
 *       dhcp4: { vendor-class: "acme-router" }
 *     interfaces:
 *       eth0:
 *         dhcp4: { hostname: gw, client-id: mac }
 *
 * Settings are the services' own declared options (ServiceDefinition.options), checked by the
 * same code as `--set` (checkOptionValue), so an option a service declares is settable here
 * without this module knowing it. The file is validated whole before anything changes; each
 * problem is one line naming file:line and the setting. Precedence, lowest first: the option's
 * default, `defaults.SERVICE`, `interfaces.IF.SERVICE`, the command line.
 */
import { readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { checkOptionValue, foreignWriteAccess, knownOptions, type ServiceDefinition } from "@paddock/runtime";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Node } from "yaml";
import { UserError } from "./errors.ts";

/** Where `paddock run` and `paddock dhcp` look when no --config is given; its absence is fine. */
export const DEFAULT_CONFIG_FILE = "/etc/paddock/paddock.yaml";
/** A configuration is a few KiB; the bound keeps a mistaken file (a log, an image) from costing a parse. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Problems listed before the rest are counted: one screen is enough to fix the first. */
const MAX_PROBLEMS = 20;
/** The top-level sections. */
const SECTIONS = ["defaults", "interfaces"] as const;
/** An interface name as the kernel takes it: 1–15 bytes, no '/', ':' or whitespace. */
const IFACE_NAME = /^[^\s/:]{1,15}$/;

/** Stable codes of configuration file errors. */
export type ConfigFileErrorCode =
  | "PADDOCK_E_CONFIG_MISSING"
  | "PADDOCK_E_CONFIG_UNREADABLE"
  | "PADDOCK_E_CONFIG_TOO_LARGE"
  | "PADDOCK_E_CONFIG_UNSAFE"
  | "PADDOCK_E_CONFIG_SYNTAX"
  | "PADDOCK_E_CONFIG_INVALID";

/** A configuration file that cannot be used: each problem one line ("FILE:LINE: setting must be …"). */
export class ConfigFileError extends UserError {
  // Printed like any UserError: the problems are the message.
  constructor(
    readonly code: ConfigFileErrorCode,
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.join("\n"));
  }
}

/** One setting: its value (of the option's kind) and the line it is on. */
export interface Setting {
  readonly value: string | boolean | number;
  readonly line: number;
}

/** Settings by service, then option name. */
export type ServiceSettings = ReadonlyMap<string, ReadonlyMap<string, Setting>>;

/** A validated configuration file. */
export interface ConfigFile {
  /** The file it came from (undefined: no file, every option at its default). */
  readonly file: string | undefined;
  readonly defaults: ServiceSettings;
  readonly interfaces: ReadonlyMap<string, ServiceSettings>;
}

/** The configuration when there is no file. */
export const EMPTY_CONFIG: ConfigFile = { file: undefined, defaults: new Map(), interfaces: new Map() };

/**
 * Reads and validates a configuration file. `explicit` (--config) must exist; the default file
 * may be absent (then every option keeps its default). `services`: those the file may configure.
 */
export function loadConfigFile(file: string, explicit: boolean, services: readonly ServiceDefinition<any>[], uid: number = process.getuid?.() ?? 0): ConfigFile {
  let bytes: Buffer;
  try {
    refuseForeignWritable(file, uid);
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !explicit) return EMPTY_CONFIG;
    if (code === "ENOENT") throw new ConfigFileError("PADDOCK_E_CONFIG_MISSING", file, [`the configuration file ${file} does not exist`]);
    throw new ConfigFileError("PADDOCK_E_CONFIG_UNREADABLE", file, [`cannot read the configuration file ${file}: ${code ?? (err as Error).message}`]);
  }
  if (bytes.length > MAX_CONFIG_BYTES) throw new ConfigFileError("PADDOCK_E_CONFIG_TOO_LARGE", file, [`the configuration file ${file} is larger than ${MAX_CONFIG_BYTES} bytes`]);
  return parseConfigText(bytes.toString("utf8"), file, services);
}

/**
 * Refuses a file that someone besides the priv's user could change, or whose directory they could
 * change: the file names paths the priv writes as root (resolv-conf, hostname-path) and the hooks
 * it runs, so whoever may edit it may make the priv do anything. Like the state directories (and
 * the hooks), the file and its directory must be the priv's user's and not writable by group or
 * others; a symlink is judged by what it points to.
 */
function refuseForeignWritable(file: string, uid: number): void {
  const real = realpathSync(file);
  for (const [what, p] of [["file", real], ["file's directory", path.dirname(real)]] as const) {
    const why = foreignWriteAccess(statSync(p), uid);
    if (why?.kind === "owner") {
      throw new ConfigFileError("PADDOCK_E_CONFIG_UNSAFE", file, [`the configuration ${what} ${p} belongs to uid ${why.owner}, so that user could make the priv write any file or run any program; chown root ${p}`]);
    }
    if (why?.kind === "mode") {
      throw new ConfigFileError("PADDOCK_E_CONFIG_UNSAFE", file, [`the configuration ${what} ${p} is writable by group or others (mode ${why.mode.toString(8).padStart(4, "0")}), so they could make the priv write any file or run any program; chmod go-w ${p}`]);
    }
  }
}

/**
 * Parses a configuration's text. Never throws anything but ConfigFileError: every YAML text is
 * either a configuration or a list of one-line problems.
 */
export function parseConfigText(text: string, file: string, services: readonly ServiceDefinition<any>[]): ConfigFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  const at = (offset: number | undefined) => `${file}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  const lineOf = (node: Node | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : 1);
  if (doc.errors.length > 0) {
    throw new ConfigFileError("PADDOCK_E_CONFIG_SYNTAX", file, doc.errors.slice(0, MAX_PROBLEMS).map((e) => `${at(e.pos[0])}: not valid YAML: ${firstLine(e.message)}`));
  }
  const problems: string[] = [];
  const problem = (node: Node | null | undefined, message: string) => problems.push(`${file}:${lineOf(node)}: ${message}`);
  const byName = new Map(services.map((s) => [s.name, s] as const));
  const known = `known: ${[...byName.keys()].join(", ") || "none"}`;

  /** A mapping's entries as [key text, key node, value node], or a problem when it is not a mapping. */
  const entries = (node: Node | null | undefined, where: string, what: string): Array<[string, Node, Node | null]> => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return [];
    if (isAlias(node)) return problem(node, `${where}: anchors and aliases are not used in this file`), [];
    if (!isMap(node)) return problem(node, `${where} must be a mapping of ${what}`), [];
    const out: Array<[string, Node, Node | null]> = [];
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      if (!isScalar(key) || key.value === null || typeof key.value === "object") {
        problem(key ?? node, `${where}: a key must be a plain name`);
        continue;
      }
      out.push([keyText(key), key, (pair.value as Node | null) ?? null]);
    }
    return out;
  };

  const serviceSettings = (node: Node | null, where: string): Map<string, Map<string, Setting>> => {
    const out = new Map<string, Map<string, Setting>>();
    for (const [name, keyNode, value] of entries(node, where, "services")) {
      const def = byName.get(name);
      if (!def) {
        problem(keyNode, `${where}.${name}: there is no service ${name} (${known})`);
        continue;
      }
      const settings = new Map<string, Setting>();
      for (const [option, optionKey, optionValue] of entries(value, `${where}.${name}`, "options")) {
        const setting = `${where}.${name}.${option}`;
        if (!Object.hasOwn(def.options ?? {}, option)) {
          problem(optionKey, `${setting}: ${name} has no option ${option} (${knownOptions(def)})`);
          continue;
        }
        const raw = scalarValue(optionValue, def.options![option]!.kind);
        if (!raw.ok) {
          problem(optionValue ?? optionKey, `${setting} ${raw.reason}`);
          continue;
        }
        const checked = checkOptionValue(def, option, raw.value);
        if (!checked.ok) {
          problem(optionValue, `${setting} ${checked.reason}`);
          continue;
        }
        settings.set(option, { value: checked.value, line: lineOf(optionValue) });
      }
      out.set(name, settings);
    }
    return out;
  };

  let defaults = new Map<string, Map<string, Setting>>();
  const interfaces = new Map<string, ServiceSettings>();
  for (const [section, keyNode, value] of entries(doc.contents as Node | null, "the file", "sections")) {
    if (section === "defaults") {
      defaults = serviceSettings(value, "defaults");
    } else if (section === "interfaces") {
      for (const [iface, ifaceKey, ifaceValue] of entries(value, "interfaces", "interface names")) {
        if (!IFACE_NAME.test(iface)) {
          problem(ifaceKey, `interfaces: ${JSON.stringify(iface)} is not an interface name (1–15 characters, no '/', ':' or spaces)`);
          continue;
        }
        interfaces.set(iface, serviceSettings(ifaceValue, `interfaces.${iface}`));
      }
    } else {
      problem(keyNode, `${JSON.stringify(section)} is not a section of the configuration file (it has: ${SECTIONS.join(", ")})`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) shown.push(`${file}: and ${problems.length - MAX_PROBLEMS} more problems`);
    throw new ConfigFileError("PADDOCK_E_CONFIG_INVALID", file, shown);
  }
  return { file, defaults, interfaces };
}

/**
 * A service's settings on an interface, by precedence (lowest first): `defaults.SERVICE`,
 * `interfaces.IF.SERVICE`, then `flags` (the command line's --set and friendly flags).
 */
export function settingsFor(config: ConfigFile, iface: string, service: string, flags: Readonly<Record<string, string | boolean | number>> = {}): Record<string, string | boolean | number> {
  const out: Record<string, string | boolean | number> = {};
  for (const [name, s] of config.defaults.get(service) ?? []) out[name] = s.value;
  for (const [name, s] of config.interfaces.get(iface)?.get(service) ?? []) out[name] = s.value;
  return Object.assign(out, flags);
}

/** A key's text: a plain key as written (so `1:` is "1" and `no:` is "no"), a quoted one as its value. */
export function keyText(key: Scalar): string {
  return key.type === Scalar.PLAIN && typeof key.source === "string" ? key.source : String(key.value);
}

/**
 * An option's value from its YAML node. For a text option a plain scalar is taken as written
 * (`duid: 000300010203` stays hex, `hostname: 123` stays "123") and a list of scalars is joined
 * with ", " (`request-options: [1, 3, 6]`); numbers and booleans are YAML's.
 */
export function scalarValue(node: Node | null, kind: "string" | "boolean" | "number"): { ok: true; value: string | boolean | number } | { ok: false; reason: string } {
  if (node === null || (isScalar(node) && node.value === null)) return { ok: false, reason: "has no value" };
  if (isAlias(node)) return { ok: false, reason: "is an alias; anchors and aliases are not used in this file" };
  if (kind === "string" && isSeq(node)) {
    const parts: string[] = [];
    for (const item of node.items) {
      if (!isScalar(item) || item.value === null || typeof item.value === "object") return { ok: false, reason: "must be text or a list of plain values" };
      parts.push(item.type === Scalar.PLAIN && typeof item.source === "string" ? item.source : String(item.value));
    }
    return { ok: true, value: parts.join(", ") };
  }
  if (!isScalar(node)) return { ok: false, reason: `must be ${kind === "string" ? "text" : `a ${kind}`}, not a ${isMap(node) ? "mapping" : "list"}` };
  const v = node.value;
  if (kind === "string") {
    if (node.type === Scalar.PLAIN && typeof node.source === "string") return { ok: true, value: node.source };
    if (typeof v === "string") return { ok: true, value: v };
  }
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return { ok: true, value: v };
  return { ok: false, reason: `must be ${kind === "string" ? "text" : `a ${kind}`}` };
}

/** The first line of a YAML parser message, without its position (the caller gives FILE:LINE). */
export function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

/** Where a command's service options come from: the configuration file and the command line. */
export interface OptionSources {
  /** --config, or undefined for the default file (which may be absent). */
  readonly configPath: string | undefined;
  readonly iface: string;
  /** The services running, with the options the command line gave each (they win over the file). */
  readonly services: readonly { readonly definition: ServiceDefinition<any>; readonly flags: Readonly<Record<string, string | boolean | number>> }[];
  /** Other services the file may configure (the built-in ones), checked but not run. */
  readonly otherServices?: readonly ServiceDefinition<any>[];
}

/**
 * Each running service's settings from the configuration file and the command line (SERVICE →
 * NAME → value): what `paddock run` and `paddock dhcp` start with, and what a reload computes
 * again from the same command line. Throws ConfigFileError.
 */
export function resolveOptions(src: OptionSources): Map<string, Record<string, string | boolean | number>> {
  const running = src.services.map((s) => s.definition);
  const known = [...running, ...(src.otherServices ?? []).filter((o) => !running.some((r) => r.name === o.name))];
  const config = loadConfigFile(src.configPath ?? DEFAULT_CONFIG_FILE, src.configPath !== undefined, known);
  return new Map(src.services.map((s) => [s.definition.name, settingsFor(config, src.iface, s.definition.name, s.flags)]));
}
