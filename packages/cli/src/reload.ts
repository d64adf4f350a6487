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

/** Reloads on every SIGHUP (one at a time; a signal during a reload runs another after it). Returns the remover. */
export function reloadOnSighup(host: Pick<ServiceHost, "reload">, settings: SettingsSource, log: Logger): () => void {
  let running: Promise<unknown> = Promise.resolve();
  const onHup = () => {
    log.info({ signal: "SIGHUP" }, "reloading the configuration");
    running = running.then(() => reloadOnce(host, settings, log));
  };
  process.on("SIGHUP", onHup);
  return () => process.off("SIGHUP", onHup);
}
