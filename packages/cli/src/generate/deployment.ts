/**
 * The deployment file of `paddock generate` and `paddock apply`: which services run, on which
 * interfaces, with which options, and the variants (tags such as `debug` and `release`) that
 * change pieces of it.
 *
 *     name: edge                         # the unit: paddock-edge.service
 *     services:
 *       dhcp4:
 *         interfaces: [eth0]
 *         options: { vendor-class: acme }
 *       ntp: { interfaces: [eth0], options: { clock: system } }
 *       heartbeat:                       # any defineService module, relative to this file
 *         module: ./heartbeat/service.ts
 *         interfaces: [eth0]
 *         options: { peer: 192.0.2.1 }
 *     log-level: info
 *     calf-launch: external              # calves in units of their own (default: runtime, runc in the priv's)
 *     limits: { memory-max-mib: 256, tasks-max: 128 }
 *     variants:
 *       debug: { log-level: debug }
 *       release: { log-level: warn, services: { heartbeat: { enabled: false } } }
 *
 * A variant is laid over the rest of the file: its mappings merge key by key, anything else
 * (a value, a list) replaces. Options are the services' own declarations, checked by the same
 * code as `--set` and the configuration file (checkOptionValue); every problem is one line
 * naming FILE:LINE, as in the configuration file (../config-file.ts).
 */
import path from "node:path";
import { checkOptionValue, knownOptions, orList, SERVICE_NAME, type ServiceDefinition } from "@paddock/runtime";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from "yaml";
import { firstLine, keyText, scalarValue } from "../config-file.ts";
import { CALF_LAUNCH_CHOICES, DEFAULT_CALF_USER, type CalfLaunch } from "../calf-launch-option.ts";
import { UserError } from "../errors.ts";
import { BUILTIN_SERVICES } from "../services.ts";

/** Stable codes of deployment file errors. */
export type DeploymentErrorCode = "PADDOCK_E_DEPLOYMENT_UNREADABLE" | "PADDOCK_E_DEPLOYMENT_SYNTAX" | "PADDOCK_E_DEPLOYMENT_INVALID";

/** A deployment file that cannot be used: each problem one line ("FILE:LINE: … must be …"). */
export class DeploymentError extends UserError {
  constructor(
    readonly code: DeploymentErrorCode,
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.join("\n"));
  }
}

/** A deployment is a page of YAML; the bound keeps a mistaken file (an image, a log) from costing a parse. */
export const MAX_DEPLOYMENT_BYTES = 256 * 1024;
/** Problems listed before the rest are counted: one screen is enough to fix the first. */
const MAX_PROBLEMS = 20;
/** A deployment name becomes a unit name (paddock-NAME.service) and a directory name. */
const DEPLOYMENT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** A variant name: a tag, like `debug` or `release`. */
const VARIANT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** An interface name as the kernel takes it: 1–15 bytes, no '/', ':' or whitespace. */
const IFACE_NAME = /^[^\s/:]{1,15}$/;
/** User data is a service's small configuration text, not a file store: 16 KiB bounds what apply copies and compares. */
export const MAX_USER_DATA_BYTES = 16 * 1024;
/** Interfaces per service: more than a handful on one priv is a mistake, not a deployment. */
const MAX_INTERFACES = 16;
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A user name sysusers.d and every libc accept. */
const SYSTEM_USER = /^[a-z_][a-z0-9_-]{0,30}$/;

/** Where things live on the target machine (absolute paths); every one has a default. */
export interface InstallPaths {
  /** The paddock command the unit runs. */
  readonly paddock: string;
  /** The generated calf bundles are installed here (bundles/ of the output). */
  readonly bundleDir: string;
  /** The built-in services' calf scripts (calf-SERVICE.mjs). */
  readonly calfDir: string;
  /** Module services, as built directories (SERVICE/service.mjs, SERVICE/calf.mjs). */
  readonly serviceDir: string;
  /** The generated configuration files (paddock-NAME.yaml) and user data (apply). */
  readonly configDir: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  /** The resolv.conf the DHCP service writes; writable by the unit. */
  readonly resolvConf: string;
  /** The Node binary the calves run (its libraries, from ldd on this machine, are their mounts). */
  readonly node: string;
  /** paddock-calf-launch, which the calves' units run (calf-launch: external). */
  readonly launcher: string;
}

/** The defaults of an image built with examples/image-builder. */
export const DEFAULT_INSTALL: InstallPaths = {
  paddock: "/usr/sbin/paddock",
  bundleDir: "/usr/lib/paddock/bundles",
  calfDir: "/usr/lib/paddock/calves",
  serviceDir: "/usr/lib/paddock/services",
  configDir: "/etc/paddock",
  stateDir: "/var/lib/paddock",
  runtimeDir: "/run/paddock",
  resolvConf: "/etc/resolv.conf",
  node: "/usr/bin/node",
  launcher: "/usr/lib/paddock/paddock-calf-launch",
};

const INSTALL_KEYS: Readonly<Record<string, keyof InstallPaths>> = {
  paddock: "paddock",
  "bundle-dir": "bundleDir",
  "calf-dir": "calfDir",
  "service-dir": "serviceDir",
  "config-dir": "configDir",
  "state-dir": "stateDir",
  "runtime-dir": "runtimeDir",
  "resolv-conf": "resolvConf",
  node: "node",
  launcher: "launcher",
};

/** The priv's own limits (its unit's MemoryMax, TasksMax, CPUQuota); calves have their definitions'. */
export interface PrivLimits {
  readonly memoryMaxMiB: number;
  readonly tasksMax: number;
  /** Percent of one CPU (100 = one core); undefined: no quota. */
  readonly cpuQuotaPercent: number | undefined;
}

/**
 * The priv measured 55 MiB (docs/performance.md); runc adds ~10 MiB while it starts a calf.
 * 256 MiB leaves room for several services and a crash-looping calf's runc.
 */
export const DEFAULT_PRIV_MEMORY_MIB = 256;
/** Node runs ~11 threads, runc ~8 while it starts a calf; hooks add a few. */
export const DEFAULT_PRIV_TASKS = 128;
const LIMIT_RANGES = { "memory-max-mib": [64, 65536], "tasks-max": [32, 65536], "cpu-quota-percent": [5, 400] } as const;

/** A service of the deployment, validated. */
export interface DeploymentService {
  readonly name: string;
  /** Absolute path of the module (a `defineService` module), or undefined for a built-in. */
  readonly module: string | undefined;
  readonly interfaces: readonly string[];
  /** Option settings (NAME → value), each checked against the definition. */
  readonly settings: Readonly<Record<string, string | boolean | number>>;
  /** Text `paddock serve` writes to USER_DATA_DIR/SERVICE/user-data (0600 in a 0700 directory) before the service starts. */
  readonly userData?: string;
}

/** A validated deployment, with its variant applied. */
export interface Deployment {
  readonly file: string;
  readonly name: string;
  /** The variant applied, if any. */
  readonly variant: string | undefined;
  /** Every variant the file declares. */
  readonly variants: readonly string[];
  /** The enabled services, in file order. */
  readonly services: readonly DeploymentService[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** systemd READY=1 anyway after this long (seconds). */
  readonly readyTimeoutSeconds: number;
  readonly limits: PrivLimits;
  readonly install: InstallPaths;
  /** How calves start: runtime (runc/crun inside the priv's unit) or external (units of their own; ./calf-units.ts). */
  readonly calfLaunch: CalfLaunch;
  /** The system user external calves run as. */
  readonly calfUser: string;
}

/** Finds a service's definition: a built-in by name, or a module by its absolute path. */
/** The built-in services' names, as the CLI registers them: "dhcp4, ntp, ra, dhcp6". */
const builtinList = () => Object.keys(BUILTIN_SERVICES).join(", ");

export type DefinitionLookup = (service: { name: string; module: string | undefined }) => ServiceDefinition<any> | undefined;

/** A merged view of the file and a variant: a mapping's entries by key, or the node that won. */
interface View {
  readonly node: Node | null;
  readonly map?: Map<string, { key: Node; view: View }>;
}

/**
 * Reads the structure of a deployment file: its module services' paths (to be built before the
 * options can be checked) and its variants. Throws DeploymentError.
 */
export function deploymentModules(text: string, file: string): { name: string; module: string }[] {
  const { root } = parseYaml(text, file);
  const out: { name: string; module: string }[] = [];
  const seen = new Set<string>();
  const collect = (services: Node | null | undefined) => {
    if (!isMap(services)) return;
    for (const pair of services.items) {
      const name = isScalar(pair.key) ? keyText(pair.key) : "";
      const spec = pair.value as Node | null;
      if (!isMap(spec)) continue;
      const module = spec.get("module");
      if (typeof module === "string" && !seen.has(name)) {
        seen.add(name);
        out.push({ name, module: path.resolve(path.dirname(file), module) });
      }
    }
  };
  if (isMap(root)) {
    collect(root.get("services", true) as Node | undefined);
    const variants = root.get("variants", true) as Node | undefined;
    if (isMap(variants)) for (const v of variants.items) if (isMap(v.value)) collect((v.value as { get(k: string, keep: true): unknown }).get("services", true) as Node | undefined);
  }
  return out;
}

function parseYaml(text: string, file: string) {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    throw new DeploymentError("PADDOCK_E_DEPLOYMENT_SYNTAX", file, doc.errors.slice(0, MAX_PROBLEMS).map((e) => `${file}:${lines.linePos(e.pos[0]).line}: not valid YAML: ${firstLine(e.message)}`));
  }
  return { root: doc.contents as Node | null, lineOf: (node: Node | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : 1) };
}

/**
 * Parses and validates a deployment's text with `variant` applied (undefined: none). `lookup`
 * gives each service's definition (built-ins, and modules built beforehand). Never throws anything
 * but DeploymentError: every text is a deployment or a list of one-line problems.
 */
export function parseDeployment(text: string, file: string, lookup: DefinitionLookup, variant?: string): Deployment {
  if (Buffer.byteLength(text) > MAX_DEPLOYMENT_BYTES) throw new DeploymentError("PADDOCK_E_DEPLOYMENT_INVALID", file, [`the deployment file ${file} is larger than ${MAX_DEPLOYMENT_BYTES} bytes`]);
  const { root, lineOf } = parseYaml(text, file);
  const problems: string[] = [];
  const problem = (node: Node | null | undefined, message: string) => problems.push(`${file}:${lineOf(node)}: ${message}`);

  /** A node as a view: mappings become entries by key (a problem for anything that is not a mapping where one is needed). */
  const view = (node: Node | null, where: string): View => {
    if (node === null || (isScalar(node) && node.value === null)) return { node: null };
    if (isAlias(node)) return problem(node, `${where}: anchors and aliases are not used in this file`), { node: null };
    if (!isMap(node)) return { node };
    const map = new Map<string, { key: Node; view: View }>();
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      if (!isScalar(key) || key.value === null || typeof key.value === "object") {
        problem(key ?? node, `${where}: a key must be a plain name`);
        continue;
      }
      const name = keyText(key);
      map.set(name, { key, view: view((pair.value as Node | null) ?? null, where === "the file" ? name : `${where}.${name}`) });
    }
    return { node, map };
  };
  /** A variant laid over the base: mappings merge key by key, anything else replaces. */
  const merge = (base: View, over: View): View => {
    if (over.node === null) return base;
    if (!base.map || !over.map) return over;
    const map = new Map(base.map);
    for (const [k, o] of over.map) {
      const b = map.get(k);
      map.set(k, b ? { key: o.key, view: merge(b.view, o.view) } : o);
    }
    return { node: over.node, map };
  };
  const entriesOf = (v: View | undefined, where: string, what: string): Array<[string, Node, View]> => {
    if (!v || v.node === null) return [];
    if (!v.map) return problem(v.node, `${where} must be a mapping of ${what}`), [];
    return [...v.map].map(([k, e]) => [k, e.key, e.view]);
  };
  const allowOnly = (v: View | undefined, where: string, allowed: readonly string[]) => {
    for (const [k, keyNode] of entriesOf(v, where, allowed.join(", "))) {
      if (!allowed.includes(k)) problem(keyNode, `${where === "the file" ? "" : `${where}: `}${JSON.stringify(k)} is not a setting here (it has: ${allowed.join(", ")})`);
    }
  };

  const base = view(root, "the file");
  // Nothing else can be said of a file that is not a mapping: this one line.
  if (base.node !== null && !base.map) throw new DeploymentError("PADDOCK_E_DEPLOYMENT_INVALID", file, [`${file}:${lineOf(base.node)}: the file must be a mapping (name, services, variants, …)`]);
  const TOP = ["name", "services", "variants", "log-level", "ready-timeout", "limits", "install", "calf-launch", "calf-user"];
  const VARIANT_KEYS = TOP.filter((k) => k !== "name" && k !== "variants");
  allowOnly(base, "the file", TOP);

  // The variants: names, and which one applies.
  const variantsView = base.map?.get("variants")?.view;
  const variants = entriesOf(variantsView, "variants", "variant names");
  for (const [name, keyNode, v] of variants) {
    if (!VARIANT_NAME.test(name)) problem(keyNode, `variants: ${JSON.stringify(name)} is not a variant name (a lower-case word, like debug or release)`);
    allowOnly(v, `variants.${name}`, VARIANT_KEYS);
  }
  let merged = base;
  if (variant !== undefined) {
    const chosen = variants.find(([name]) => name === variant);
    if (!chosen) {
      problems.push(`${file}: there is no variant ${JSON.stringify(variant)} (${variants.length ? `it has: ${variants.map(([n]) => n).join(", ")}` : "it declares none"})`);
    } else if (chosen[2].map) {
      merged = merge(base, chosen[2]);
    }
  }
  const get = (key: string) => merged.map?.get(key);

  const text1 = (v: View | undefined, where: string): string | undefined => {
    if (!v || v.node === null) return undefined;
    const r = scalarValue(v.node, "string");
    if (!r.ok) return problem(v.node, `${where} ${r.reason}`), undefined;
    return String(r.value);
  };
  const number1 = (v: View | undefined, where: string, [min, max]: readonly [number, number]): number | undefined => {
    if (!v || v.node === null) return undefined;
    const r = scalarValue(v.node, "number");
    if (!r.ok || typeof r.value !== "number" || !Number.isInteger(r.value) || r.value < min || r.value > max) {
      return problem(v.node, `${where} must be a whole number ${min}–${max}`), undefined;
    }
    return r.value;
  };

  // name
  const nameEntry = get("name");
  const name = text1(nameEntry?.view, "name");
  if (name === undefined) problems.push(`${file}:1: name is missing: the deployment's name (a-z, 0-9, '-'; the unit becomes paddock-NAME.service)`);
  else if (!DEPLOYMENT_NAME.test(name)) problem(nameEntry!.view.node, `name ${JSON.stringify(name)} must be 1–32 lower-case letters, digits and '-', starting with a letter or digit`);

  // log-level, ready-timeout
  const logLevelText = text1(get("log-level")?.view, "log-level");
  if (logLevelText !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevelText)) problem(get("log-level")!.view.node, `log-level must be ${orList(LOG_LEVELS)}, not ${JSON.stringify(logLevelText)}`);
  const readyTimeout = number1(get("ready-timeout")?.view, "ready-timeout", [1, 3600]);

  // calf-launch, calf-user
  const launchText = text1(get("calf-launch")?.view, "calf-launch");
  if (launchText !== undefined && !(CALF_LAUNCH_CHOICES as readonly string[]).includes(launchText)) problem(get("calf-launch")!.view.node, `calf-launch must be ${orList(CALF_LAUNCH_CHOICES)}, not ${JSON.stringify(launchText)}`);
  const calfUser = text1(get("calf-user")?.view, "calf-user");
  if (calfUser !== undefined && !SYSTEM_USER.test(calfUser)) problem(get("calf-user")!.view.node, `calf-user must be a system user name (a-z, 0-9, '_', '-'; 1–31, starting with a letter or '_'), not ${JSON.stringify(calfUser)}`);

  // limits
  const limitsView = get("limits")?.view;
  allowOnly(limitsView, "limits", Object.keys(LIMIT_RANGES));
  const limit = (k: keyof typeof LIMIT_RANGES) => number1(limitsView?.map?.get(k)?.view, `limits.${k}`, LIMIT_RANGES[k]);
  const limits: PrivLimits = { memoryMaxMiB: limit("memory-max-mib") ?? DEFAULT_PRIV_MEMORY_MIB, tasksMax: limit("tasks-max") ?? DEFAULT_PRIV_TASKS, cpuQuotaPercent: limit("cpu-quota-percent") };

  // install
  const installView = get("install")?.view;
  allowOnly(installView, "install", Object.keys(INSTALL_KEYS));
  const install: Record<string, string> = { ...DEFAULT_INSTALL };
  for (const [k, field] of Object.entries(INSTALL_KEYS)) {
    const v = installView?.map?.get(k)?.view;
    const p = text1(v, `install.${k}`);
    if (p === undefined) continue;
    if (!path.posix.isAbsolute(p) || path.posix.normalize(p) !== p || /[\s"'\\$%;]/.test(p)) problem(v!.node, `install.${k} must be an absolute, normalized path without spaces, quotes, '\\', '$', '%' or ';' (it goes into a unit file), not ${JSON.stringify(p)}`);
    else install[field] = p;
  }

  // services
  const services: DeploymentService[] = [];
  const servicesView = get("services")?.view;
  const serviceEntries = entriesOf(servicesView, "services", "service names");
  if (serviceEntries.length === 0 && !problems.some((p) => p.includes(": services"))) problems.push(`${file}:${lineOf(servicesView?.node ?? root)}: services is missing or empty: name at least one service (${builtinList()}, or a module)`);
  for (const [svc, keyNode, v] of serviceEntries) {
    const where = `services.${svc}`;
    if (!SERVICE_NAME.test(svc)) {
      problem(keyNode, `${where}: ${JSON.stringify(svc)} is not a service name (1–10 lower-case letters and digits, starting with a letter)`);
      continue;
    }
    allowOnly(v, where, ["module", "interfaces", "options", "enabled", "user-data"]);
    const enabledView = v.map?.get("enabled")?.view;
    if (enabledView && enabledView.node !== null) {
      const r = scalarValue(enabledView.node, "boolean");
      if (!r.ok || typeof r.value !== "boolean") {
        problem(enabledView.node, `${where}.enabled must be true or false`);
        continue;
      }
      if (!r.value) continue;
    }
    const moduleText = text1(v.map?.get("module")?.view, `${where}.module`);
    const module = moduleText === undefined ? undefined : path.resolve(path.dirname(file), moduleText);
    const def = lookup({ name: svc, module });
    if (!def) {
      problem(keyNode, module ? `${where}: the module ${moduleText} could not be loaded` : `${where}: there is no built-in service ${svc} (${builtinList()}; give module: PATH for your own)`);
      continue;
    }
    if (def.name !== svc) {
      problem(keyNode, `${where}: the module ${moduleText} defines the service ${JSON.stringify(def.name)}; name it ${def.name} here`);
      continue;
    }
    // interfaces
    const ifView = v.map?.get("interfaces")?.view;
    const interfaces: string[] = [];
    if (!ifView || ifView.node === null) problem(keyNode, `${where}.interfaces is missing: the interfaces to run ${svc} on, e.g. [eth0]`);
    else if (!isSeq(ifView.node)) problem(ifView.node, `${where}.interfaces must be a list of interface names, e.g. [eth0]`);
    else {
      for (const item of ifView.node.items as Node[]) {
        const r = scalarValue(item, "string");
        const iface = r.ok ? String(r.value) : "";
        if (!IFACE_NAME.test(iface)) problem(item, `${where}.interfaces: ${JSON.stringify(iface)} is not an interface name (1–15 characters, no '/', ':' or spaces)`);
        else if (interfaces.includes(iface)) problem(item, `${where}.interfaces: ${iface} is listed twice`);
        else interfaces.push(iface);
      }
      if (interfaces.length === 0 && ifView.node.items.length === 0) problem(ifView.node, `${where}.interfaces is empty: name at least one interface (or set enabled: false)`);
      if (interfaces.length > MAX_INTERFACES) problem(ifView.node, `${where}.interfaces names ${interfaces.length} interfaces; at most ${MAX_INTERFACES}`);
    }
    // options: the service's own declarations, checked as --set checks them
    const settings: Record<string, string | boolean | number> = {};
    for (const [option, optionKey, ov] of entriesOf(v.map?.get("options")?.view, `${where}.options`, "options")) {
      const setting = `${where}.options.${option}`;
      if (!Object.hasOwn(def.options ?? {}, option)) {
        problem(optionKey, `${setting}: ${svc} has no option ${option} (${knownOptions(def)})`);
        continue;
      }
      const raw = scalarValue(ov.node, def.options![option]!.kind);
      if (!raw.ok) {
        problem(ov.node ?? optionKey, `${setting} ${raw.reason}`);
        continue;
      }
      const checked = checkOptionValue(def, option, raw.value);
      if (!checked.ok) {
        problem(ov.node, `${setting} ${checked.reason}`);
        continue;
      }
      settings[option] = checked.value;
    }
    const userData = text1(v.map?.get("user-data")?.view, `${where}.user-data`);
    if (userData !== undefined && Buffer.byteLength(userData) > MAX_USER_DATA_BYTES) problem(v.map!.get("user-data")!.view.node, `${where}.user-data is larger than ${MAX_USER_DATA_BYTES} bytes`);
    services.push({ name: svc, module, interfaces, settings, ...(userData !== undefined ? { userData } : {}) });
  }
  if (problems.length === 0 && services.length === 0) problems.push(`${file}: every service is disabled${variant ? ` in the variant ${variant}` : ""}; enable at least one`);

  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) shown.push(`${file}: and ${problems.length - MAX_PROBLEMS} more problems`);
    throw new DeploymentError("PADDOCK_E_DEPLOYMENT_INVALID", file, shown);
  }
  return {
    file,
    name: name!,
    variant,
    variants: variants.map(([n]) => n),
    services,
    logLevel: (logLevelText ?? "info") as Deployment["logLevel"],
    readyTimeoutSeconds: readyTimeout ?? 30,
    limits,
    install: install as unknown as InstallPaths,
    calfLaunch: (launchText ?? "runtime") as CalfLaunch,
    calfUser: calfUser ?? DEFAULT_CALF_USER,
  };
}
