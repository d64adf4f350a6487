/**
 * The KV client over a Unix socket (operators' tools, `paddock kv …`, tests): the only part of
 * the client that needs `node:net`, kept apart so that ./client.ts stays free of Node built-ins.
 */
import net from "node:net";
import { KvClient, type KvClientOptions, type KvStream } from "./client.ts";
import { KvError, KvErrorCode } from "./errors.ts";

/** A KvStream over a connected Node stream socket. */
export function kvStreamFromSocket(socket: net.Socket): KvStream {
  const closeListeners: Array<(reason: string) => void> = [];
  let closedReason: string | undefined;
  const closed = (reason: string) => {
    if (closedReason !== undefined) return;
    closedReason = reason;
    for (const l of closeListeners.splice(0)) l(reason);
  };
  socket.on("close", () => closed("closed"));
  socket.on("error", (err: Error) => closed(`error: ${err.message}`));
  return {
    onData: (cb) => void socket.on("data", (chunk: Buffer) => cb(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))),
    onClose: (cb) => {
      if (closedReason !== undefined) cb(closedReason);
      else closeListeners.push(cb);
    },
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    close: () => {
      socket.end();
      socket.destroy();
    },
  };
}

/** Connects to a store's Unix socket (an admin socket, or `paddock kv serve`'s calf socket). */
export function connectKv(socketPath: string, opts: KvClientOptions = {}): Promise<KvClient> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      resolve(new KvClient(kvStreamFromSocket(socket), opts));
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" ? "no such socket" : err.code === "ECONNREFUSED" ? "nobody is listening" : err.code === "EACCES" ? "permission denied" : err.message;
      reject(new KvError(KvErrorCode.CONNECT, `cannot connect to the store at ${socketPath}: ${why}`, undefined, { cause: err }));
    });
  });
}
