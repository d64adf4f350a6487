/**
 * The KV protocol's messages as plain TypeScript values, and their Cap'n Proto encoding.
 * The generated classes (src/generated/) stay behind this file: nothing else touches capnp-ts,
 * and nothing capnp-ts throws crosses it.
 */
import * as capnp from "capnp-ts";
import * as wire from "./generated/kv.capnp.js";
import { fail, ok, type Result } from "./errors.ts";
import { guarded } from "./guard.ts";
import { MAX_COMMIT_CHANGES, MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_SEGMENT_BYTES } from "./limits.ts";

/** An operation a client asks of the store. */
export type KvOp =
  | { kind: "write"; value: Uint8Array }
  | { kind: "read" }
  | { kind: "delete" }
  | { kind: "list" }
  | { kind: "watch" }
  | { kind: "audit"; tail: number }
  /** The priv's view of the service (admin only): answered with `ok` carrying one JSON object. */
  | { kind: "info" }
  /** Several changes applied atomically; the request's own path is empty. */
  | { kind: "commit"; changes: KvChange[] };

/** One change of a commit: a value to write, or null to delete the key. */
export interface KvChange {
  /** Path segments, as for a request. */
  path: string[];
  value: Uint8Array | null;
}

/** A request: `id` is the client's, echoed in the response, so requests can be pipelined. */
export interface KvRequest {
  id: number;
  /** Path segments: "/nameserver/001" is ["nameserver", "001"]. */
  path: string[];
  op: KvOp;
}

/** A committed change, as delivered to a watch. */
export interface KvEvent {
  seq: bigint;
  path: string[];
  change: { kind: "written"; value: Uint8Array } | { kind: "deleted" };
}

/** A response's payload. */
export type KvResult =
  | { kind: "ok"; value: Uint8Array }
  | { kind: "error"; message: string }
  | { kind: "paths"; paths: string[] }
  | { kind: "event"; event: KvEvent };

/** A response to the request with the same id. */
export interface KvResponse {
  id: number;
  result: KvResult;
}

const utf8 = new TextEncoder();

function newMessage(): capnp.Message {
  // One segment: our frames then always have the smallest header, and the reader's limits apply simply.
  return new capnp.Message();
}

function frameOf(message: capnp.Message): Uint8Array {
  return new Uint8Array(message.toArrayBuffer());
}

function setData(init: (n: number) => capnp.Data, bytes: Uint8Array): void {
  if (bytes.length > 0) init(bytes.length).copyBuffer(bytes);
  else init(0);
}

/** Encodes a request as one framed message. */
export function encodeKvRequest(req: KvRequest): Uint8Array {
  const message = newMessage();
  const root = message.initRoot(wire.Request);
  root.setId(req.id);
  const path = root.initPath(req.path.length);
  req.path.forEach((segment, i) => path.set(i, segment));
  switch (req.op.kind) {
    case "write":
      setData((n) => root.initWrite(n), req.op.value);
      break;
    case "read":
      root.setRead();
      break;
    case "delete":
      root.setDelete();
      break;
    case "list":
      root.setList();
      break;
    case "watch":
      root.setWatch();
      break;
    case "audit":
      root.setAudit(req.op.tail);
      break;
    case "info":
      root.setInfo();
      break;
    case "commit": {
      const list = root.initCommit().initChanges(req.op.changes.length);
      req.op.changes.forEach((c, i) => {
        const change = list.get(i);
        const path = change.initPath(c.path.length);
        c.path.forEach((segment, j) => path.set(j, segment));
        const value = c.value;
        if (value === null) change.setDelete();
        else setData((n) => change.initWrite(n), value);
      });
      break;
    }
  }
  return frameOf(message);
}

/** Encodes a response as one framed message. */
export function encodeKvResponse(res: KvResponse): Uint8Array {
  const message = newMessage();
  const root = message.initRoot(wire.Response);
  root.setId(res.id);
  const r = res.result;
  switch (r.kind) {
    case "ok":
      setData((n) => root.initOk(n), r.value);
      break;
    case "error":
      setData((n) => root.initError(n), utf8.encode(r.message));
      break;
    case "paths": {
      const list = root.initPaths(r.paths.length);
      r.paths.forEach((p, i) => list.set(i, p));
      break;
    }
    case "event": {
      const ev = root.initEvent();
      // capnp-ts 0.9 reads and writes UInt64 as bigint; capnpc-ts 0.7's declarations predate that.
      ev.setSeq(r.event.seq as never);
      const path = ev.initPath(r.event.path.length);
      r.event.path.forEach((segment, i) => path.set(i, segment));
      if (r.event.change.kind === "written") setData((n) => ev.initWritten(n), r.event.change.value);
      else ev.setDeleted();
      break;
    }
  }
  return frameOf(message);
}

function bytesOf(data: capnp.Data): Uint8Array {
  return new Uint8Array(data.toUint8Array());
}

function readPath(list: capnp.List<string>): Result<string[]> {
  const length = list.getLength();
  if (length > MAX_PATH_DEPTH) {
    return fail("PADDOCK_E_PROTO_BAD_REQUEST", `path has ${length} segments, limit ${MAX_PATH_DEPTH}`);
  }
  const segments: string[] = [];
  let total = 0;
  for (let i = 0; i < length; i++) {
    const segment = list.get(i);
    const bytes = utf8.encode(segment).length;
    if (bytes > MAX_SEGMENT_BYTES) {
      return fail("PADDOCK_E_PROTO_BAD_REQUEST", `path segment ${i} is ${bytes} bytes, limit ${MAX_SEGMENT_BYTES}`);
    }
    total += bytes + 1;
    if (total > MAX_PATH_BYTES) return fail("PADDOCK_E_PROTO_BAD_REQUEST", `path exceeds ${MAX_PATH_BYTES} bytes`);
    segments.push(segment);
  }
  return ok(segments);
}

/**
 * A commit's changes. The count is read from the raw list pointer and checked before
 * `getChanges()` runs: capnp-ts 0.9.3 copies a list whose elements are smaller than the schema's
 * Change into a new allocation of count × sizeof(Change), and a 96-byte frame claiming 2^24
 * zero-sized changes cost it 1 s and a 400 MB buffer (measured) before any check of ours.
 */
function readChanges(commit: wire.Commit): Result<KvChange[]> {
  const length = capnp.Struct.getPointerAs(0, capnp.List, commit).getLength();
  // capnp-ts reads a composite list's count as a signed offset: a hostile tag can make it negative.
  if (length < 0 || length > MAX_COMMIT_CHANGES) {
    return fail("PADDOCK_E_PROTO_BAD_REQUEST", `commit has ${length} changes, limit ${MAX_COMMIT_CHANGES}`);
  }
  const list = commit.getChanges();
  if (list.getLength() !== length) return fail("PADDOCK_E_PROTO_DECODE", "commit: the changes list changed length when read");
  const changes: KvChange[] = [];
  for (let i = 0; i < length; i++) {
    const change = list.get(i);
    const path = readPath(change.getPath());
    if (!path.ok) return fail(path.error.code, `change ${i}: ${path.error.detail}`);
    switch (change.which()) {
      case wire.Change_Which.WRITE:
        changes.push({ path: path.value, value: bytesOf(change.getWrite()) });
        break;
      case wire.Change_Which.DELETE:
        changes.push({ path: path.value, value: null });
        break;
      default:
        return fail("PADDOCK_E_PROTO_BAD_REQUEST", `change ${i}: unknown kind ${change.which()}`);
    }
  }
  return ok(changes);
}

/**
 * Decodes one frame (already validated by the FrameReader) as a request. Total: any bytes give
 * a request or a typed error.
 */
export function decodeKvRequest(frame: Uint8Array): Result<KvRequest> {
  return guarded<KvRequest>("request", frame, () => {
    const root = new capnp.Message(frame.slice().buffer, false).getRoot(wire.Request);
    const id = root.getId();
    const path = readPath(root.getPath());
    if (!path.ok) return path;
    let op: KvOp;
    switch (root.which()) {
      case wire.Request_Which.WRITE:
        op = { kind: "write", value: bytesOf(root.getWrite()) };
        break;
      case wire.Request_Which.READ:
        op = { kind: "read" };
        break;
      case wire.Request_Which.DELETE:
        op = { kind: "delete" };
        break;
      case wire.Request_Which.LIST:
        op = { kind: "list" };
        break;
      case wire.Request_Which.WATCH:
        op = { kind: "watch" };
        break;
      case wire.Request_Which.AUDIT:
        op = { kind: "audit", tail: root.getAudit() };
        break;
      case wire.Request_Which.INFO:
        op = { kind: "info" };
        break;
      case wire.Request_Which.COMMIT: {
        const changes = readChanges(root.getCommit());
        if (!changes.ok) return changes;
        op = { kind: "commit", changes: changes.value };
        break;
      }
      default:
        return fail("PADDOCK_E_PROTO_BAD_REQUEST", `unknown operation ${root.which()}`);
    }
    return ok({ id, path: path.value, op });
  });
}

/** Decodes one frame as a response (used by clients). Total, like decodeKvRequest. */
export function decodeKvResponse(frame: Uint8Array): Result<KvResponse> {
  return guarded<KvResponse>("response", frame, () => {
    const root = new capnp.Message(frame.slice().buffer, false).getRoot(wire.Response);
    const id = root.getId();
    const decoder = new TextDecoder("utf-8", { fatal: false });
    switch (root.which()) {
      case wire.Response_Which.OK:
        return ok({ id, result: { kind: "ok", value: bytesOf(root.getOk()) } });
      case wire.Response_Which.ERROR:
        return ok({ id, result: { kind: "error", message: decoder.decode(bytesOf(root.getError())) } });
      case wire.Response_Which.PATHS: {
        const list = root.getPaths();
        const paths: string[] = [];
        for (let i = 0; i < list.getLength(); i++) paths.push(list.get(i));
        return ok({ id, result: { kind: "paths", paths } });
      }
      case wire.Response_Which.EVENT: {
        const ev = root.getEvent();
        const path = readPath(ev.getPath());
        if (!path.ok) return path;
        const change = ev.isDeleted()
          ? ({ kind: "deleted" } as const)
          : ({ kind: "written", value: bytesOf(ev.getWritten()) } as const);
        const seq = BigInt(ev.getSeq() as unknown as bigint);
        return ok({ id, result: { kind: "event", event: { seq, path: path.value, change } } });
      }
      default:
        return fail("PADDOCK_E_PROTO_BAD_REQUEST", `unknown response kind ${root.which()}`);
    }
  });
}

/** "/a/b" → ["a","b"]; "/" → []. Does not validate segments (the store's path parser does). */
export function splitPath(text: string): string[] {
  return text.split("/").filter((s) => s.length > 0);
}

/** ["a","b"] → "/a/b"; [] → "/". */
export function joinPath(segments: readonly string[]): string {
  return "/" + segments.join("/");
}
