/**
 * The client's DUID, chosen by the priv (RFC 8415 §11): it must stay the same across restarts, so
 * the first one made is written to the service's state directory and used from then on — whatever
 * later happens to the MAC; DUID-LLT's time is the time it was first made. Changing the `duid`
 * option makes a new one.
 */
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { duidFromMac, duidFromUuid, duidLltFromMac, duidTimeFromUnixMs, encodeDuid, type Duid } from "@paddock/dhcp6";
import { ServiceOptionError } from "@paddock/runtime";
import { hexBytes, hexText } from "./wire.ts";

/** The file in the state directory: the option it was made for, a space, the DUID in hex. */
export const DUID_FILE = "dhcp6-duid";

/** Where DUID-UUID's UUID comes from (systemd's machine id: 32 hex digits). */
export const MACHINE_ID_FILE = "/etc/machine-id";

export interface DuidSources {
  readonly mac: Uint8Array | undefined;
  readonly nowMs: number;
  readonly machineId?: () => string;
}

/** Makes the DUID for `option` (ll, llt, uuid or hex); throws ServiceOptionError when it cannot. */
export function makeDuid(option: string, src: DuidSources): Uint8Array {
  let duid: Duid | null;
  if (option === "ll" || option === "llt") {
    if (!src.mac) throw new ServiceOptionError(`dhcp6: duid ${option} is made from the interface's MAC address, and this interface has none; use duid uuid or give a DUID in hex`);
    duid = option === "ll" ? duidFromMac(src.mac) : duidLltFromMac(src.mac, duidTimeFromUnixMs(src.nowMs));
  } else if (option === "uuid") {
    let text: string;
    try {
      text = (src.machineId ?? (() => readFileSync(MACHINE_ID_FILE, "utf8")))().trim();
    } catch (err) {
      throw new ServiceOptionError(`dhcp6: duid uuid reads ${MACHINE_ID_FILE}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    duid = duidFromUuid(text);
    if (!duid) throw new ServiceOptionError(`dhcp6: duid uuid needs ${MACHINE_ID_FILE} to hold 32 hex digits`);
  } else {
    const bytes = hexBytes(option);
    if (!bytes) throw new ServiceOptionError(`dhcp6: duid ${JSON.stringify(option)} is not ll, llt, uuid or hex`);
    return bytes;
  }
  const bytes = encodeDuid(duid);
  if (!bytes.ok) throw new ServiceOptionError(`dhcp6: cannot make the DUID: ${bytes.error.detail}`);
  return bytes.value;
}

/**
 * The DUID to use: the one kept in `stateDir` when it was made for the same option, else a new one
 * (written there atomically before it is used).
 */
export function keptDuid(stateDir: string, option: string, src: DuidSources): Uint8Array {
  const file = path.join(stateDir, DUID_FILE);
  try {
    const [madeFor, hex] = readFileSync(file, "utf8").trim().split(" ");
    const bytes = hex === undefined ? undefined : hexBytes(hex);
    if (madeFor === option && bytes && bytes.length >= 3) return bytes;
  } catch {
    // None yet (or unreadable): a new one below.
  }
  const bytes = makeDuid(option, src);
  writeFileSync(`${file}.tmp`, `${option} ${hexText(bytes)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return bytes;
}
