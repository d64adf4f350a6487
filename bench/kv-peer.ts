/**
 * The server side of bench/kv.ts, in its own process: either the real KV server (dhcp4 schema,
 * calf rights without a rate limit) or a bare Unix-socket echo that answers each frame with a
 * response of the same size, so the two differ only in what the store does.
 *   tsx bench/kv-peer.ts kv|echo SOCKET STATE_DIR
 */
import net from "node:net";
import { decodeKvRequest, encodeKvResponse, FrameReader, MAX_CALF_FRAME_BYTES } from "@paddock/protocol";
import { ADMIN_LIMITS, KvServer, KvStore } from "@paddock/kv";
import { dhcp4Schema } from "@paddock/service-dhcp4";

const [mode, socketPath, stateDir] = process.argv.slice(2) as [string, string, string];

if (mode === "kv") {
  const store = new KvStore({ schema: dhcp4Schema, stateDir });
  const server = new KvServer(store, { debug() {}, info() {}, warn() {}, error() {} });
  const listener = net.createServer((s) => server.serve(s, { role: "calf", name: "bench" }, { ...ADMIN_LIMITS, maxFrameBytes: MAX_CALF_FRAME_BYTES }));
  listener.listen(socketPath, () => process.stdout.write("ready\n"));
} else {
  const listener = net.createServer((s) => {
    const reader = new FrameReader({ maxFrameBytes: MAX_CALF_FRAME_BYTES });
    s.on("data", (c) => {
      for (const f of reader.push(new Uint8Array(c)).frames) {
        const r = decodeKvRequest(f);
        const id = r.ok ? r.value.id : 0;
        // Same decode and encode work as the store's path, without the store.
        s.write(encodeKvResponse({ id, result: { kind: "ok", value: r.ok && r.value.op.kind === "read" ? new TextEncoder().encode("10.1.2.3/24") : new Uint8Array(0) } }));
      }
    });
  });
  listener.listen(socketPath, () => process.stdout.write("ready\n"));
}
