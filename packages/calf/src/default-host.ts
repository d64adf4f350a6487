/**
 * The host `runCalf` and the calf logger use when given none: the one of the engine the bundle
 * was built for. This module gives Node's; the QuickJS build (packages/bundler/src/bundle-quickjs.ts)
 * puts ./engine/quickjs-host.ts in its place, so a calf's code is the same on either engine.
 */
export { nodeHost as defaultHost } from "./host.ts";
