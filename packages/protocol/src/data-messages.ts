/**
 * The data path's messages (fd 4 between priv and calf) as plain TypeScript values, and their
 * Cap'n Proto encoding. Same rules as the KV messages: total decode, limits before decoding.
 */
import * as capnp from "capnp-ts";
import * as wire from "./generated/data.capnp.js";
import { fail, ok, type Result } from "./errors.ts";
import { guarded } from "./guard.ts";

/**
 * Largest data-path frame: an Ethernet frame is at most 1518 bytes without jumbo frames; a
 * datagram at most 64 KiB. 70 KiB holds either with the message envelope.
 */
export const MAX_DATA_FRAME_BYTES = 70 * 1024;

/** One data-path message. Times are nanoseconds since the Unix epoch (0: none). */
export type DataMessage =
  | { kind: "frame"; data: Uint8Array; rxTimeNs: bigint; checksumPending?: boolean }
  | { kind: "datagram"; data: Uint8Array; peerAddress: string; peerPort: number; rxTimeNs: bigint }
  | { kind: "link"; up: boolean; carrier: boolean; mtu: number };

function setData(init: (n: number) => capnp.Data, bytes: Uint8Array): void {
  if (bytes.length > 0) init(bytes.length).copyBuffer(bytes);
  else init(0);
}

/** Encodes one data-path message as a framed Cap'n Proto message. */
export function encodeDataMessage(m: DataMessage): Uint8Array {
  const message = new capnp.Message();
  const root = message.initRoot(wire.DataMessage);
  switch (m.kind) {
    case "frame": {
      const f = root.initFrame();
      setData((n) => f.initData(n), m.data);
      // capnp-ts 0.9 takes UInt64 as bigint; capnpc-ts 0.7's declarations predate that.
      f.setRxTimeNs(m.rxTimeNs as never);
      if (m.checksumPending) f.setChecksumPending(true);
      break;
    }
    case "datagram": {
      const d = root.initDatagram();
      setData((n) => d.initData(n), m.data);
      d.setPeerAddress(m.peerAddress);
      d.setPeerPort(m.peerPort);
      d.setRxTimeNs(m.rxTimeNs as never);
      break;
    }
    case "link": {
      const l = root.initLink();
      l.setUp(m.up);
      l.setCarrier(m.carrier);
      l.setMtu(m.mtu);
      break;
    }
  }
  return new Uint8Array(message.toArrayBuffer());
}

/** Decodes one data-path frame. Total: any bytes give a message or a typed error. */
export function decodeDataMessage(frame: Uint8Array): Result<DataMessage> {
  return guarded<DataMessage>("data message", frame, () => {
    const root = new capnp.Message(frame.slice().buffer, false).getRoot(wire.DataMessage);
    switch (root.which()) {
      case wire.DataMessage_Which.FRAME: {
        const f = root.getFrame();
        const frame: DataMessage = { kind: "frame", data: new Uint8Array(f.getData().toUint8Array()), rxTimeNs: BigInt(f.getRxTimeNs() as unknown as bigint) };
        return ok(f.getChecksumPending() ? { ...frame, checksumPending: true } : frame);
      }
      case wire.DataMessage_Which.DATAGRAM: {
        const d = root.getDatagram();
        return ok({
          kind: "datagram",
          data: new Uint8Array(d.getData().toUint8Array()),
          peerAddress: d.getPeerAddress(),
          peerPort: d.getPeerPort(),
          rxTimeNs: BigInt(d.getRxTimeNs() as unknown as bigint),
        });
      }
      case wire.DataMessage_Which.LINK: {
        const l = root.getLink();
        return ok({ kind: "link", up: l.getUp(), carrier: l.getCarrier(), mtu: l.getMtu() });
      }
      default:
        return fail("PADDOCK_E_PROTO_BAD_REQUEST", `unknown data message kind ${root.which()}`);
    }
  });
}
