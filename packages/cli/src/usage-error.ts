import type { Command } from "commander";

/**
 * Commander's "error: unknown option '--x'" as `paddock: unknown option '--x' (paddock dhcp --help
 * lists the options)`: the help named is the deepest command the arguments name.
 */
export function usageError(program: Command, message: string, args: readonly string[]): string {
  const path: string[] = [];
  let at = program;
  for (const arg of args) {
    const next = at.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) break;
    path.push(next.name());
    at = next;
  }
  const text = message.trim().replace(/^error: /, "");
  return `paddock: ${text} (${["paddock", ...path, "--help"].join(" ")} lists the ${path.length === 0 ? "commands" : "options"})\n`;
}
