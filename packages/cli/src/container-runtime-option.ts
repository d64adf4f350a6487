/** `--container-runtime`, shared by `paddock dhcp` and `paddock run` (docs/decisions/0011-container-runtime.md). */
import { CONTAINER_RUNTIME_CHOICES, isContainerRuntimeChoice, orList, type ContainerRuntimeChoice } from "@paddock/runtime";
import { UserError } from "./errors.ts";

/** The option's help text. */
export const CONTAINER_RUNTIME_HELP = "the OCI runtime of the calves: auto (crun when it is installed and works with this host's cgroups, runc otherwise), runc or crun";

/** Parses `--container-runtime`. */
export function parseContainerRuntime(value: string): ContainerRuntimeChoice {
  if (!isContainerRuntimeChoice(value)) throw new UserError(`--container-runtime must be ${orList(CONTAINER_RUNTIME_CHOICES)}, not ${JSON.stringify(value)}`);
  return value;
}
