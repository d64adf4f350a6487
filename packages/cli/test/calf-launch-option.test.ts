/** `--calf-launch` and `--calf-user` (../src/calf-launch-option.ts): each refusal is one sentence. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { calfLaunchRequest, parseCalfLaunch, resolveCalfUid } from "../src/calf-launch-option.ts";

const dir = mkdtempSync(path.join(tmpdir(), "paddock-calf-launch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const passwd = path.join(dir, "passwd");
writeFileSync(passwd, "root:x:0:0:root:/root:/bin/bash\npaddock-calf:x:998:998:Paddock calves:/:/usr/sbin/nologin\n");

describe("--calf-launch and --calf-user", () => {
  it("takes runtime and external, and says the choices otherwise", () => {
    expect(parseCalfLaunch("external")).toBe("external");
    expect(() => parseCalfLaunch("systemd")).toThrow(/^--calf-launch must be runtime or external, not "systemd"$/);
  });

  it("resolves a user name from the passwd file, or takes a uid; never root", () => {
    expect(resolveCalfUid("paddock-calf", passwd)).toBe(998);
    expect(resolveCalfUid("61234", passwd)).toBe(61234);
    expect(() => resolveCalfUid("root", passwd)).toThrow(/is uid 0: calves never run as root/);
    expect(() => resolveCalfUid("0", passwd)).toThrow(/calves never run as root/);
    expect(() => resolveCalfUid("nobody-here", passwd)).toThrow(/--calf-user nobody-here: no such user in .*passwd/);
  });

  it("asks for external calves only with --calf-launch external, and refuses --calf-user without it", () => {
    expect(calfLaunchRequest(undefined, undefined)).toEqual({});
    expect(calfLaunchRequest("runtime", undefined)).toEqual({});
    expect(calfLaunchRequest("external", "61234")).toEqual({ externalCalves: { uid: 61234 } });
    expect(() => calfLaunchRequest("runtime", "61234")).toThrow(/^--calf-user is for --calf-launch external/);
  });
});
