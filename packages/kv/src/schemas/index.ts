import type { ServiceSchema } from "../schema.ts";
import { dhcp4Schema } from "./dhcp4.ts";

export { dhcp4Schema } from "./dhcp4.ts";

/** The schemas `paddock kv serve --schema NAME` knows. */
export const builtinSchemas: Readonly<Record<string, ServiceSchema>> = { dhcp4: dhcp4Schema };
