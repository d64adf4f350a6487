/**
 * SIGHUP in `paddock run` and `paddock dhcp` (sent by `paddock reload` or systemd's ExecReload):
 * the configuration file is read again and combined with the original command line, validated
 * whole, and handed to the running host (ServiceHost.reload). A file with problems is one log
 * line and changes nothing; options that cannot change while running are named, and keep their
 * running values until a restart. Leases, addresses and calves are not touched.
 */
import type { Logger } from "pino";
import { ServiceOptionError, type ServiceHost } from "@paddock/runtime";
import { ConfigFileError } from "./config-file.ts";
import { UserError } from "./errors.ts";

/** Computes the wanted settings again (SERVICE → NAME → value); throws ConfigFileError or UserError. */
export type SettingsSource = () => Map<string, Record<string, string | boolean | number>>;

/** Reloads once: re-reads, validates, applies, and logs what happened (one line for a refusal). */
export async function reloadOnce(host: Pick<ServiceHost, "reload">, settings: SettingsSource, log: Logger): Promise<boolean> {
  try {
    const outcome = await host.reload(settings());
    if (outcome.needRestart.length > 0) {
      log.warn({ options: outcome.needRestart }, `reload: ${outcome.needRestart.join(", ")} changed but take effect only at a restart; running with the old values`);
    }
    log.info({ applied: outcome.applied, keys: outcome.keys }, outcome.applied.length > 0 ? `reloaded: ${outcome.applied.join(", ")}` : "reloaded: nothing to change");
    return true;
  } catch (err) {
    if (err instanceof ConfigFileError || err instanceof ServiceOptionError || err instanceof UserError) {
      const code = err instanceof UserError && !(err instanceof ConfigFileError) ? undefined : err.code;
      log.error({ ...(code ? { code } : {}) }, `reload refused, running unchanged: ${err.message.split("\n").join("; ")}`);
      return false;
    }
    log.error({ err: (err as Error).message }, "reload failed, running unchanged");
    return false;
  }
}

/** What one SIGHUP reloads: a host (one interface's), where its settings come from, its log. */
export interface ReloadTarget {
  readonly host: Pick<ServiceHost, "reload">;
  readonly settings: SettingsSource;
  readonly log: Logger;
}

/**
 * Listens for SIGHUP from the moment it is called — Node's default for SIGHUP ends the process,
 * and a `systemctl reload` while the priv still waits for its interface must not — and reloads
 * the targets given to `attach` on every SIGHUP, one reload at a time (a signal during a reload
 * runs another after it). A SIGHUP before `attach` is one reload as soon as the targets are there:
 * the file may have changed after the start read it.
 */
export function listenForReload(log: Logger): { attach(targets: readonly ReloadTarget[]): void; stop(): void } {
  let targets: readonly ReloadTarget[] | undefined;
  let missed = false;
  let running: Promise<unknown> = Promise.resolve();
  const reloadAll = () => {
    const now = targets!;
    running = running.then(() => Promise.all(now.map((t) => reloadOnce(t.host, t.settings, t.log))));
  };
  const onHup = () => {
    log.info({ signal: "SIGHUP" }, targets ? "reloading the configuration" : "reloading the configuration once the services have started");
    if (targets) reloadAll();
    else missed = true;
  };
  process.on("SIGHUP", onHup);
  return {
    attach(next) {
      targets = next;
      if (missed) reloadAll();
    },
    stop: () => process.off("SIGHUP", onHup),
  };
}
