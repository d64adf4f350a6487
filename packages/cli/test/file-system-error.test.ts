// A file-system error a user causes with a path they gave is one sentence, not "this is a bug".
import { mkdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fileSystemError } from "../src/errors.ts";

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error("it did not throw");
}

describe("fileSystemError", () => {
  it("says what failed, on which path, in words", () => {
    expect(fileSystemError(thrown(() => mkdirSync("/etc/passwd/build")))).toBe("cannot mkdir /etc/passwd/build: a part of the path is not a directory");
    expect(fileSystemError(thrown(() => readFileSync("/nonexistent/paddock.yaml")))).toBe("cannot open /nonexistent/paddock.yaml: no such file or directory");
  });

  it("leaves what is not a file-system error to the bug report", () => {
    expect(fileSystemError(new Error("x"))).toBeUndefined();
    expect(fileSystemError(Object.assign(new Error("y"), { code: "ERR_INVALID_ARG_TYPE" }))).toBeUndefined();
    expect(fileSystemError("EACCES")).toBeUndefined();
  });
});
