/**
 * One handler's contribution to the composed resolv.conf (./resolv.ts), with the file it
 * contributes to and a copy of that file's original kept in the handler's ownership record: the
 * runtime directory where contributions live does not outlive a reboot, the record does, so the
 * original can always be put back. What every handler that contributes DNS (a DHCP lease, RA
 * RDNSS/DNSSL, DHCPv6) does the same way.
 */
import type { OwnedFile } from "./ownership.ts";
import type { ResolvConfComposer, ResolvSettings } from "./resolv.ts";

/** What contributeResolvConf needs. */
export interface ResolvContributionOptions {
  /** The resolv.conf to manage now; null: manage none (a contribution held elsewhere is withdrawn). */
  readonly file: string | null;
  /** The service ("dhcp6") and interface the contribution is from. */
  readonly source: string;
  readonly iface: string;
  /** What to contribute; null withdraws it. */
  readonly settings: ResolvSettings | null;
  /** The file and original the ownership record holds (null: none). */
  readonly owned: () => OwnedFile | null;
  /** Writes the record's resolv.conf entry. */
  readonly record: (next: OwnedFile | null) => Promise<void>;
  readonly composer: (file: string) => ResolvConfComposer;
}

/**
 * Contributes `settings` (the composer saves the original once, before its first write), or with
 * null withdraws them (the composer restores the original when the last contribution goes); a
 * contribution to another file than `file` is withdrawn first. Returns the composer's lines.
 */
export async function contributeResolvConf(o: ResolvContributionOptions): Promise<{ changes: string[]; conflicts: string[] }> {
  const changes: string[] = [];
  const conflicts: string[] = [];
  const take = (u: { changes: string[]; conflicts: string[] }) => {
    changes.push(...u.changes);
    conflicts.push(...u.conflicts);
  };
  const held = o.owned();
  if (held !== null && (o.settings === null || held.path !== o.file)) {
    take(await o.composer(held.path).update(o.source, o.iface, null, held.saved));
    await o.record(null);
  }
  if (o.settings === null || o.file === null) return { changes, conflicts };
  const u = await o.composer(o.file).update(o.source, o.iface, o.settings, o.owned()?.saved ?? null);
  take(u);
  const now = o.owned();
  if (u.original !== null && (now === null || now.path !== o.file || JSON.stringify(now.saved) !== JSON.stringify(u.original))) {
    await o.record({ path: o.file, saved: u.original });
  }
  return { changes, conflicts };
}
