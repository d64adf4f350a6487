/** peerCredentials (SO_PEERCRED): who is at the other end of an AF_UNIX connection. */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isNativeError, peerCredentials } from "../lib/index.ts";

const dir = mkdtempSync(path.join(tmpdir(), "paddock-peercred-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("peerCredentials", () => {
  it("gives the connecting process's pid, uid and gid (here: this process)", async () => {
    const sockPath = path.join(dir, "s");
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(sockPath, r));
    const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
    const client = net.connect(sockPath);
    const sock = await accepted;
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    expect(peerCredentials(fd)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    client.destroy();
    sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("throws a NativeError for a descriptor that is not a socket", () => {
    let err: unknown;
    try {
      peerCredentials(0x7fff_fff0);
    } catch (e) {
      err = e;
    }
    expect(isNativeError(err)).toBe(true);
    expect((err as { errno: string }).errno).toBe("EBADF");
    expect((err as { code: string }).code).toBe("PADDOCK_E_NATIVE_EBADF");
  });
});
