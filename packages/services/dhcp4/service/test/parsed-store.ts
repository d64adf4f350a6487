// Store values for handler and hook tests: texts parsed by the DHCP schema, as the store does.

import { matchEntry, parseWith } from "@paddock/kv";
import type { StoreView } from "@paddock/runtime";
import { dhcp4Schema } from "../src/index.ts";

/**
 * What the store would hold for these texts: each parsed by its schema entry's parser, as the
 * store does on write and on load. A text the schema refuses is left out (the store never holds
 * it), or, with `strict`, is a mistake in the test.
 */
export function parsedStore(o: Record<string, string>, strict = true): StoreView {
  const values = new Map<string, string>();
  const parsed = new Map<string, unknown>();
  for (const [key, text] of Object.entries(o)) {
    const entry = matchEntry(dhcp4Schema, key.split("/").filter(Boolean));
    const r = entry && Buffer.byteLength(text) <= entry.maxBytes ? parseWith(entry.validate, text) : { ok: false as const, reason: "not storable" };
    if (!r.ok) {
      if (strict) throw new Error(`test fixture ${key}=${JSON.stringify(text)}: ${r.reason}`);
      continue;
    }
    values.set(key, text);
    parsed.set(key, r.value);
  }
  return { values, parsed };
}
