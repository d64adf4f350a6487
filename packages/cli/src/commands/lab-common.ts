/**
 * What `paddock lab`, `paddock lab ntp` and `paddock lab ipv6` share: the checks before a lab is
 * built (root, the tools it runs, a positive --timeout) and two throwaway namespaces removed with
 * everything the lab made, on return, on failure and on Ctrl-C or SIGTERM.
 */
import { createLab, requireCommands, TestkitError, type Lab, type Netns } from "@paddock/testkit";
import { UserError } from "../errors.ts";

/**
 * Runs `lab` (named `command` in its errors) with --timeout `timeout` in milliseconds, after
 * checking it runs as root and `tools` are installed. The kit's errors are complete sentences (a
 * missing command names its Debian package): they are the user's, not bugs.
 */
export async function runLabCommand(command: string, timeout: string, tools: readonly string[], lab: (timeoutMs: number) => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) throw new UserError(`${command} creates network namespaces and must run as root`);
  const timeoutMs = Number(timeout) * 1000;
  if (!(timeoutMs > 0)) throw new UserError(`--timeout must be a positive number of seconds, not ${JSON.stringify(timeout)}`);
  try {
    requireCommands([...tools]);
    await lab(timeoutMs);
  } catch (err) {
    if (err instanceof TestkitError) throw new UserError(err.message);
    throw err;
  }
}

/**
 * A lab (namespace prefix `prefix`) with two namespaces named `names` for `body`; the lab, its
 * namespaces, processes and files are removed when `body` ends or fails, or on SIGINT/SIGTERM
 * (then the process exits 130), and the removal is said in one line.
 */
export async function inTwoNamespaces(prefix: string, names: readonly [string, string], body: (l: Lab, a: Netns, b: Netns) => Promise<void>): Promise<void> {
  const l: Lab = createLab({ prefix });
  const a = l.namespace(names[0]);
  const b = l.namespace(names[1]);
  const removed = () => console.log(`\n== removed the namespaces ${a.name} and ${b.name} and every file the lab made`);
  const onSignal = () => {
    console.log("\n== interrupted");
    l.destroySync();
    removed();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await body(l, a, b);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await l.destroy();
    removed();
  }
}
