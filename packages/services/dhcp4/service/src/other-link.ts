/**
 * A lease belongs to one interface and one hardware address (issue 13 A8): a state directory that
 * last served another interface, or the same name with another MAC (a re-created or swapped NIC),
 * holds a lease the server granted to someone else's chaddr and client identifier. It is forgotten
 * in the same commit that records the new interface, before any handler runs, so it is never
 * applied, not even briefly: every key the calf wrote (the lease, its times, the calf's own state
 * for INIT-REBOOT) and the address the priv saw ACKed.
 */
import { matchesPattern, type ServiceSchema } from "@paddock/kv";
import type { ServiceInterface, StoreReader } from "@paddock/runtime";

/** The keys to delete (path → null) when the store's /iface or /mac is another interface's; empty otherwise. */
export function forgetOtherLinksLease(schema: ServiceSchema, store: StoreReader, iface: ServiceInterface): { keys: Record<string, null>; was: string | null } {
  const mac = store.get("/mac");
  const name = store.get("/iface");
  const same = (mac === undefined || mac === iface.mac) && (name === undefined || name === iface.name);
  if (same) return { keys: {}, was: null };
  const calfWritten = schema.entries.filter((e) => e.writer === "calf");
  const keys: Record<string, null> = {};
  for (const key of store.parsed.keys()) {
    const segments = key.split("/").filter(Boolean);
    if (calfWritten.some((e) => matchesPattern(e, segments))) keys[key] = null;
  }
  if (store.get("/lease/acked") !== undefined) keys["/lease/acked"] = null;
  return { keys, was: `${name ?? "?"} (${mac ?? "no MAC"})` };
}
