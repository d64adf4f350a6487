// The package under test, plus the raw addon for assertions that need a lower level.
export * from "@paddock/native";
export { addon as addonForTests } from "../lib/addon.ts";
