/**
 * The unit's capability bounding set: exactly what the priv keeps at run time for the same
 * services and settings (@paddock/runtime's `serviceCapabilities` and `privCapabilities`, whose
 * evidence is docs/decisions/0009-priv-capabilities.md), with the reason for each capability,
 * which the unit's comments and the check report print.
 */
import { EBPF_CAPABILITIES, PRIV_BASE_CAPABILITIES, privCapabilities, RUNC_CAPABILITIES, serviceCapabilities, type PrivCapabilityOptions, type ServiceDefinition } from "@paddock/runtime";

/** One capability and why the priv holds it. */
export interface CapabilityNeed {
  readonly name: string;
  readonly reasons: readonly string[];
}

/** The union for `services` (each with its settings), every capability with every reason. Throws PrivSandboxError for a name that is not a capability. */
export function unitCapabilities(services: ReadonlyArray<{ readonly definition: ServiceDefinition<any>; readonly settings: Readonly<Record<string, string | boolean | number>> }>, opts: PrivCapabilityOptions = {}): CapabilityNeed[] {
  const needs = services.map((s) => ({ service: s.definition.name, caps: serviceCapabilities(s.definition, s.settings) as readonly string[] }));
  const kept = privCapabilities(needs.map((n) => n.caps as never), opts);
  const runc = opts.runsCalves !== false;
  return kept.map((name) => ({
    name,
    reasons: [
      ...(runc && (RUNC_CAPABILITIES as readonly string[]).includes(name) ? ["runc, to start and restart calves (decision 0009)"] : []),
      ...(!runc && (EBPF_CAPABILITIES as readonly string[]).includes(name) ? ["the priv: loading its tc eBPF programs without CAP_SYS_ADMIN (decision 0013)"] : []),
      ...((PRIV_BASE_CAPABILITIES as readonly string[]).includes(name) ? ["the priv: netlink, tc, eBPF, packet sockets (decision 0009)"] : []),
      ...needs.filter((n) => n.caps.includes(name)).map((n) => `${n.service}: its channels or its options`),
    ],
  }));
}
