// A no-op stand-in for the `debug` package in calf bundles (bundleCalf aliases it here).
// capnp-ts traces through `debug`, which a calf never enables; the real package pulls in tty
// and environment parsing that cost start-up time and memory in every calf.
"use strict";
function createDebug() {
  const noop = function () {};
  noop.enabled = false;
  noop.extend = () => noop;
  noop.log = noop;
  return noop;
}
// capnp-ts registers its format characters on this object at load time.
createDebug.formatters = {};
createDebug.enable = function () {};
createDebug.disable = function () {
  return "";
};
createDebug.enabled = function () {
  return false;
};
module.exports = createDebug;
module.exports.default = createDebug;
