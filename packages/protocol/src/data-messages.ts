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

/** Largest datagram send tag: the wire field (Datagram.sendTag, TxTime.sendTag) is a UInt32. */
export const MAX_SEND_TAG = 0xffff_ffff;

/**
 * One data-path message. Times are nanoseconds since the Unix epoch (0: none).
 *
 * `sendTag` on a datagram the calf sends (1–2³²−1; absent or 0: none) asks for its kernel transmit
 * time: when the service's UDP channel has transmit timestamps, the priv answers with a `txTime`
 * carrying the same tag once the kernel reports it. Absent on received datagrams.
 */
export type DataMessage =
  | { kind: "frame"; data: Uint8Array; rxTimeNs: bigint; checksumPending?: boolean }
  | { kind: "datagram"; data: Uint8Array; peerAddress: string; peerPort: number; rxTimeNs: bigint; sendTag?: number }
  | { kind: "link"; up: boolean; carrier: boolean; mtu: number }
  | { kind: "txTime"; sendTag: number; txTimeNs: bigint };

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
      if (m.sendTag) d.setSendTag(m.sendTag);
      break;
    }
    case "link": {
      const l = root.initLink();
      l.setUp(m.up);
      l.setCarrier(m.carrier);
      l.setMtu(m.mtu);
      break;
    }
    case "txTime": {
      const t = root.initTxTime();
      t.setSendTag(m.sendTag);
      t.setTxTimeNs(m.txTimeNs as never);
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
        const datagram: DataMessage = {
          kind: "datagram",
          data: new Uint8Array(d.getData().toUint8Array()),
          peerAddress: d.getPeerAddress(),
          peerPort: d.getPeerPort(),
          rxTimeNs: BigInt(d.getRxTimeNs() as unknown as bigint),
        };
        const sendTag = d.getSendTag();
        return ok(sendTag !== 0 ? { ...datagram, sendTag } : datagram);
      }
      case wire.DataMessage_Which.LINK: {
        const l = root.getLink();
        return ok({ kind: "link", up: l.getUp(), carrier: l.getCarrier(), mtu: l.getMtu() });
      }
      case wire.DataMessage_Which.TX_TIME: {
        const t = root.getTxTime();
        return ok({ kind: "txTime", sendTag: t.getSendTag(), txTimeNs: BigInt(t.getTxTimeNs() as unknown as bigint) });
      }
      default:
        return fail("PADDOCK_E_PROTO_BAD_REQUEST", `unknown data message kind ${root.which()}`);
    }
  });
}
