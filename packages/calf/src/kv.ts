/**
 * The calf's KV client on fd 3: @paddock/kv's own client (read, write, delete, commit, a promise
 * per request, pipelined, each with a timeout), run over the host's channel and timers. That
 * module imports no Node built-in, so the calf reaches the host only through ./host.ts.
 */
export { KvClient, KvError, KvErrorCode, DEFAULT_TIMEOUT_MS as DEFAULT_KV_TIMEOUT_MS, type KvClientOptions } from "@paddock/kv/client";
