import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = mkdtempSync(path.join(tmpdir(), "paddock-gen-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("committed generated code is what the schema generates today", () => {
  execFileSync(process.execPath, [path.join(pkg, "scripts/generate.mjs"), "--out", out], { stdio: "pipe" });
  const committed = path.join(pkg, "src/generated");
  const files = readdirSync(out).sort();
  expect(readdirSync(committed).sort()).toEqual(files);
  for (const f of files) {
    expect(readFileSync(path.join(committed, f), "utf8"), `${f} differs: run node packages/protocol/scripts/generate.mjs`).toBe(
      readFileSync(path.join(out, f), "utf8"),
    );
  }
});

it("keeps the original file id and ordinals", () => {
  const schema = readFileSync(path.join(pkg, "schema/kv.capnp"), "utf8");
  expect(schema).toContain("@0x9e83562906de8259;");
  for (const field of ["id @0 :Int32", "path @1 :List(Text)", "write @2 :Data", "read @3 :Void", "delete @4 :Void", "ok @1 :Data", "error @2 :Data"]) {
    expect(schema).toContain(field);
  }
});

it("keeps the data path's file id and ordinals (new things only as new ordinals)", () => {
  const schema = readFileSync(path.join(pkg, "schema/data.capnp"), "utf8");
  expect(schema).toContain("@0x994ceea5df317d09;");
  for (const field of [
    "frame @0 :Frame", "datagram @1 :Datagram", "link @2 :LinkState", "txTime @3 :TxTime",
    "data @0 :Data", "rxTimeNs @1 :UInt64", "checksumPending @2 :Bool",
    "peerAddress @1 :Text", "peerPort @2 :UInt16", "rxTimeNs @3 :UInt64", "sendTag @4 :UInt32",
    "sendTag @0 :UInt32", "txTimeNs @1 :UInt64",
    "up @0 :Bool", "carrier @1 :Bool", "mtu @2 :UInt32",
  ]) {
    expect(schema).toContain(field);
  }
});
