/**
 * `--calf-launch runtime|external` and `--calf-user`, shared by `paddock run` and `paddock serve`
 * (docs/decisions/0013-external-calves.md): whether the priv runs its calves under runc/crun
 * (the default) or waits for calves something else started to connect to it.
 */
import { readFileSync } from "node:fs";
import { orList } from "@paddock/runtime";
import { UserError } from "./errors.ts";

/** The ways calves are started. */
export const CALF_LAUNCH_CHOICES = ["runtime", "external"] as const;
export type CalfLaunch = (typeof CALF_LAUNCH_CHOICES)[number];

/** The system user `paddock generate`'s calf units run as (its sysusers.d file creates it). */
export const DEFAULT_CALF_USER = "paddock-calf";

/** The options' help texts. */
export const CALF_LAUNCH_HELP =
  "how calves start: runtime (the priv runs each under runc or crun; the default) or external (each calf's own unit runs it with paddock-calf-launch, which connects to RUNTIME_DIR/calves/SERVICE-IFACE.sock or a socket systemd hands the priv; docs/generate.md)";
export const CALF_USER_HELP = `with --calf-launch external: the user (name or uid) calves connect as; any other is refused (default ${DEFAULT_CALF_USER})`;

/** Parses `--calf-launch`. */
export function parseCalfLaunch(value: string): CalfLaunch {
  if (!(CALF_LAUNCH_CHOICES as readonly string[]).includes(value)) throw new UserError(`--calf-launch must be ${orList(CALF_LAUNCH_CHOICES)}, not ${JSON.stringify(value)}`);
  return value as CalfLaunch;
}

/**
 * The uid of `user`: a number as it is, a name looked up in `passwdFile` (the calf's unit names
 * the same user). Throws UserError when there is no such user.
 */
export function resolveCalfUid(user: string, passwdFile = "/etc/passwd"): number {
  if (/^\d+$/.test(user)) {
    const uid = Number(user);
    if (uid === 0 || uid > 0xfffffffe) throw new UserError(`--calf-user ${user} cannot be a calf's uid: calves never run as root, and uids end at 4294967294`);
    return uid;
  }
  let text = "";
  try {
    text = readFileSync(passwdFile, "utf8");
  } catch {
    // No passwd file: the user is unknown, said below.
  }
  for (const line of text.split("\n")) {
    const [name, , uid] = line.split(":");
    if (name === user && uid !== undefined && /^\d+$/.test(uid)) {
      if (uid === "0") throw new UserError(`--calf-user ${user} is uid 0: calves never run as root`);
      return Number(uid);
    }
  }
  throw new UserError(`--calf-user ${user}: no such user in ${passwdFile} (the calf units' sysusers.d file creates ${DEFAULT_CALF_USER}; or give a uid)`);
}

/** What `--calf-launch` and `--calf-user` ask of the hosts: `externalCalves` for external, nothing for runtime. */
export function calfLaunchRequest(launch: CalfLaunch | undefined, user: string | undefined): { externalCalves?: { uid: number } } {
  if (launch !== "external") {
    if (user !== undefined) throw new UserError("--calf-user is for --calf-launch external: with the default (runtime) the priv chooses the calves' uid itself");
    return {};
  }
  return { externalCalves: { uid: resolveCalfUid(user ?? DEFAULT_CALF_USER) } };
}
