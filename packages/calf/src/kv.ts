/**
 * The calf's KV client on fd 3: @paddock/kv's own client (read, write, delete, commit, a promise
 * per request, pipelined, each with a timeout), run over the host's channel and timers. That
 * module imports no Node built-in, so the calf reaches the host only through ./host.ts.
 */
import { KvError, type KvClient } from "@paddock/kv/client";

export { KvClient, KvError, KvErrorCode, DEFAULT_TIMEOUT_MS as DEFAULT_KV_TIMEOUT_MS, type KvClientOptions } from "@paddock/kv/client";

/** A key's value, or undefined when it is not set (PADDOCK_E_KV_NOT_FOUND); other errors are thrown. */
export async function readOptional(kv: Pick<KvClient, "read">, path: string): Promise<string | undefined> {
  try {
    return await kv.read(path);
  } catch (err) {
    if (err instanceof KvError && err.code === "PADDOCK_E_KV_NOT_FOUND") return undefined;
    throw err;
  }
}
