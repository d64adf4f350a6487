/**
 * A reload (SIGHUP, `paddock reload`): the running services take new option values without a
 * restart, and without their calves or leases being touched.
 *
 * Validated whole before anything changes: every service's settings are parsed against its
 * declarations and its setup's `reload` computes its priv keys; only then is anything
 * committed. An option a service does not declare `live` keeps its running value, and the
 * outcome names it as needing a restart. Each service's changed keys go in one commit, so its
 * calf (which watches the keys it reads) sees the new configuration at once and whole.
 */
import { parseServiceOptions, ServiceOptionError, type OptionDefinition, type OptionValues, type ServiceDefinition, type ServiceSetup } from "./service.ts";

/** One running service as a reload sees it. */
export interface ReloadTarget {
  readonly def: ServiceDefinition<any>;
  readonly setup: ServiceSetup | undefined;
  /** The option values it runs with (replaced when a reload succeeds). */
  options: OptionValues<any>;
  /** A key's current text in its store. */
  value(path: string): string | undefined;
  /** Writes priv keys as one commit; rejects with the store's error. */
  commit(changes: Readonly<Record<string, string | null>>): Promise<void>;
}

/** What a reload changed, and what it could not. */
export interface ReloadOutcome {
  /** Options now running with their new values, as "SERVICE.NAME". */
  readonly applied: readonly string[];
  /** Changed options that need a restart (the running value is kept), as "SERVICE.NAME". */
  readonly needRestart: readonly string[];
  /** Keys committed, as "SERVICE:/path". */
  readonly keys: readonly string[];
}

/** Two values as a reload compares them (an option's or a key's): undefined and null are both "not set". */
const same = (a: unknown, b: unknown) => (a ?? null) === (b ?? null);

/**
 * Applies new settings (SERVICE → NAME → value, as `--set` or a configuration file gives them:
 * the whole wanted configuration, not a difference) to running services. Throws
 * ServiceOptionError, having changed nothing, when any value is refused.
 */
export async function reloadServices(targets: readonly ReloadTarget[], settings: ReadonlyMap<string, Readonly<Record<string, string | boolean | number>>>): Promise<ReloadOutcome> {
  const applied: string[] = [];
  const needRestart: string[] = [];
  const plans: Array<{ target: ReloadTarget; next: OptionValues<any>; changes: Record<string, string | null> }> = [];
  for (const target of targets) {
    const declared = (target.def.options ?? {}) as Readonly<Record<string, OptionDefinition>>;
    const wanted = parseServiceOptions(target.def, settings.get(target.def.name) ?? {});
    const next: Record<string, unknown> = { ...target.options };
    const live: string[] = [];
    for (const name of Object.keys(declared)) {
      if (same(wanted[name], target.options[name])) continue;
      if (declared[name]!.live && target.setup?.reload) {
        next[name] = wanted[name];
        live.push(name);
      } else {
        needRestart.push(`${target.def.name}.${name}`);
      }
    }
    if (live.length === 0) continue;
    // The service's own checks (a combination it refuses, say) run before anything is committed.
    const keys = target.setup!.reload!(next as OptionValues<any>);
    const changes = Object.fromEntries(Object.entries(keys).filter(([path, value]) => !same(target.value(path), value)));
    plans.push({ target, next: next as OptionValues<any>, changes });
    applied.push(...live.map((name) => `${target.def.name}.${name}`));
  }
  const committed: string[] = [];
  for (const { target, next, changes } of plans) {
    if (Object.keys(changes).length > 0) {
      try {
        await target.commit(changes);
      } catch (err) {
        // The schema refused a value setup computed: the service keeps its running configuration.
        throw new ServiceOptionError(`${target.def.name} cannot take the new configuration: ${(err as Error).message}`);
      }
      committed.push(...Object.keys(changes).map((path) => `${target.def.name}:${path}`));
    }
    target.options = next;
  }
  return { applied, needRestart, keys: committed };
}
