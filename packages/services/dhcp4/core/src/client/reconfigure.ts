/**
 * A new configuration for a running client (an operator's reload): the lease, the state and the
 * timers stay as they are; what the client sends from now on follows the new configuration (a
 * new host name or vendor class goes out with the next DISCOVER or REQUEST, e.g. the renewal at
 * T1). RFC 2131 says nothing of reconfiguration; nothing is sent early, so a reload never adds
 * traffic of its own.
 */
import { resolveConfig, type ClientConfig, type ClientConfigError } from "./config.ts";
import type { ClientState } from "./machine.ts";

/** The client with `config` in place of its own; refused (state unchanged) when invalid or for another MAC. */
export function reconfigure(state: ClientState, config: ClientConfig): { ok: true; state: ClientState } | { ok: false; error: ClientConfigError } {
  const resolved = resolveConfig(config);
  if (!resolved.ok) return resolved;
  // chaddr and the persisted lease belong to the interface's MAC: another MAC is another client.
  if (resolved.config.mac.some((b, i) => b !== state.config.mac[i])) {
    return { ok: false, error: { code: "PADDOCK_E_DHCP4_CLIENT_CONFIG", field: "mac", detail: "cannot change while the client runs" } };
  }
  return { ok: true, state: { ...state, config: resolved.config } };
}
