// Unit tests of the calf's data channel over an in-memory HostStream: tagged datagrams out, the
// priv's transmit times in (also when they come before a listener), and tags out of range refused.
import { describe, expect, it } from "vitest";
import { decodeDataMessage, encodeDataMessage, FrameReader, MAX_DATA_FRAME_BYTES, MAX_SEND_TAG, type DataMessage } from "@paddock/protocol";
import { DataChannel, type HostStream } from "../src/index.ts";

/** A HostStream whose far end is the test: `fromPriv` feeds the calf, `sent` is what it wrote. */
function memoryStream() {
  let deliver: (chunk: Uint8Array) => void = () => {};
  const reader = new FrameReader({ maxFrameBytes: MAX_DATA_FRAME_BYTES });
  const sent: DataMessage[] = [];
  const stream: HostStream = {
    onData: (cb) => void (deliver = cb),
    onClose: () => {},
    write: (bytes) => {
      for (const f of reader.push(bytes).frames) {
        const m = decodeDataMessage(f);
        if (!m.ok) throw new Error(m.error.detail);
        sent.push(m.value);
      }
    },
    flush: async () => {},
    close: () => {},
  };
  return { stream, sent, fromPriv: (m: DataMessage) => deliver(encodeDataMessage(m)) };
}

const PEER = { address: "192.0.2.1", port: 123 };

describe("DataChannel transmit times", () => {
  it("sends a datagram's tag to the priv, and none without one (or with 0)", () => {
    const { stream, sent } = memoryStream();
    const data = new DataChannel(stream);
    data.sendDatagram(new Uint8Array([1]), PEER, { tag: 7 });
    data.sendDatagram(new Uint8Array([2]), PEER);
    data.sendDatagram(new Uint8Array([3]), PEER, { tag: 0 });
    data.sendDatagram(new Uint8Array([4]), PEER, { tag: MAX_SEND_TAG });
    expect(sent.map((m) => (m.kind === "datagram" ? m.sendTag : "?"))).toEqual([7, undefined, undefined, MAX_SEND_TAG]);
  });

  it.each([-1, 1.5, MAX_SEND_TAG + 1, Number.NaN])("refuses the tag %s", (tag) => {
    const { stream, sent } = memoryStream();
    expect(() => new DataChannel(stream).sendDatagram(new Uint8Array([1]), PEER, { tag })).toThrow(RangeError);
    expect(sent).toEqual([]);
  });

  it("gives each txTime to the listeners, keeping those that came before the first", () => {
    const { stream, fromPriv } = memoryStream();
    const data = new DataChannel(stream);
    fromPriv({ kind: "txTime", sendTag: 1, txTimeNs: 1_700_000_000_000_000_001n });
    const seen: Array<[number, bigint]> = [];
    const datagrams: Uint8Array[] = [];
    data.onDatagram((d) => datagrams.push(d));
    expect(seen).toEqual([]);
    data.onTxTime((tag, ns) => seen.push([tag, ns]));
    fromPriv({ kind: "txTime", sendTag: 2, txTimeNs: 1_700_000_000_000_000_002n });
    expect(seen).toEqual([[1, 1_700_000_000_000_000_001n], [2, 1_700_000_000_000_000_002n]]);
    expect(datagrams).toEqual([]);
  });
});
