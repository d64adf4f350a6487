/**
 * Connected AF_UNIX stream pairs for a calf's fd 3 and fd 4, without socketpair(2), which Node
 * does not expose (docs/decisions/0002-calf-fds-without-socketpair.md).
 *
 * priv listens on a socket in a fresh 0700 directory only root can enter, connects to it once per
 * pair, accepting each connection before making the next so pairs cannot be mixed up, then closes
 * the listener and removes the directory. The client ends go to the calf; the accepted ends stay.
 */

import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { SandboxError } from "./errors.ts";

/** One connected pair: `priv` stays in priv, `calf` is handed to the calf and then closed here. */
export interface SocketPair {
  readonly priv: net.Socket;
  readonly calf: net.Socket;
}

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SUN_PATH_BYTES = 107;

/** Making a pair is local and instant; anything slower than this is a hung system. */
export const CHANNEL_SETUP_TIMEOUT_MS = 5000;

/** Creates `count` connected stream pairs through a private listener under `parentDir`. */
export async function createSocketPairs(parentDir: string, count: number, calf?: string): Promise<SocketPair[]> {
  const dir = await mkdtemp(path.join(parentDir, ".channels-"));
  const sockPath = path.join(dir, "s");
  const pairs: SocketPair[] = [];
  const server = net.createServer();
  try {
    if (Buffer.byteLength(sockPath) > MAX_SUN_PATH_BYTES) {
      throw new Error(`socket path ${sockPath} is longer than sun_path`);
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(sockPath, () => resolve());
    });
    for (let i = 0; i < count; i++) {
      const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
      const client = net.connect(sockPath);
      // The calf's end must never be read here: bytes priv sends are for the calf.
      client.pause();
      const [privSide] = await withTimeout(
        Promise.all([accepted, new Promise<void>((resolve, reject) => client.once("connect", resolve).once("error", reject))]),
        CHANNEL_SETUP_TIMEOUT_MS,
      );
      pairs.push({ priv: privSide, calf: client });
    }
    return pairs;
  } catch (e) {
    for (const p of pairs) {
      p.priv.destroy();
      p.calf.destroy();
    }
    throw new SandboxError("PADDOCK_E_SANDBOX_CHANNELS", `creating ${count} socket pairs in ${dir} failed`, calf, { cause: e });
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
