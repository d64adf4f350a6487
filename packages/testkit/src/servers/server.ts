/**
 * What every server starter shares: a command (argv, environment, readiness check) built from a
 * configuration, started in a namespace by pid, and awaited until it is ready to answer.
 */
import { requireCommands } from "../commands.ts";
import type { Lab, NsRef } from "../lab.ts";
import type { LabProcess } from "../process.ts";
import { DEFAULT_WAIT_MS } from "../wait.ts";

/** A server ready to be started: what to run and how to tell it is ready. */
export interface ServerCommand {
  /** A name for messages and logs. */
  name: string;
  /** The program and its arguments (run inside the namespace). */
  argv: string[];
  /** Environment; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** The configuration file written for it, if any (for inspection). */
  configFile?: string;
  /** Resolves when the started process is ready to answer (a log line, a bound socket, a pid file). */
  ready(p: LabProcess, timeoutMs: number): Promise<unknown>;
}

/** Options every server starter takes. */
export interface CommonServerOptions {
  /** Arguments appended to the server's command line. */
  extraArgs?: string[];
  /** How long the server may take to become ready (default DEFAULT_WAIT_MS, 10 s). */
  readyTimeoutMs?: number;
}

/**
 * Starts `command` in `ns` and waits until it is ready. A server that is not installed throws a
 * TestkitError naming its Debian package; one that exits or never gets ready throws with its output.
 */
export async function startServer(lab: Lab, ns: NsRef, command: ServerCommand, readyTimeoutMs = DEFAULT_WAIT_MS): Promise<LabProcess> {
  requireCommands([command.argv[0]!]);
  const p = lab.spawn(ns, command.argv, { name: command.name, env: command.env });
  await command.ready(p, readyTimeoutMs);
  return p;
}
