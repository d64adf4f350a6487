/**
 * @paddock/runtime: the generic priv. `defineService()` describes a service; `ServiceHost` runs
 * services from their definitions. Everything here may hold privilege; none of it is ever
 * bundled into a calf, and none of it names a service.
 */
export * from "./service.ts";
export * from "./host.ts";
export * from "./interfaces.ts";
export { reloadServices, type ReloadOutcome, type ReloadTarget } from "./reload.ts";
export * from "./metrics.ts";
export * from "./hooks.ts";
export * from "./datapath/index.ts";
export * from "./handlers/index.ts";
export * from "./supervisor.ts";
export * from "./sandbox/bundle.ts";
export { calfCommandFor, PACKED_CALF_ARG, runningPacked, type CalfCommand } from "./sandbox/packed.ts";
export * from "./priv-sandbox/index.ts";
export * from "./sandbox/engine.ts";
export * from "./sandbox/container-runtime.ts";
export { calfSocketPath, CalfListener, HELLO_CONTROL, HELLO_DATA, MAX_PENDING_CONNECTIONS, type ExternalCalfOptions, type ExternalConnection } from "./sandbox/external.ts";
export { parseListenFds, takeListenFds } from "./sandbox/listen-fds.ts";
export { calfSeccompProfile, type SeccompProfile } from "./sandbox/seccomp.ts";
export { calfNameFor, interfaceLockFile } from "./calf-name.ts";
export { acquirePidLock, lockHolder, LockedError, stateDirLockFile, type PidLock } from "./pid-lock.ts";
export { escapeControlText, escapeJsonControls, parseCalfLogLine, type CalfLogRecord } from "./sandbox/log-lines.ts";
export * from "./systemd.ts";
export * from "./admin-info.ts";
export { SdNotifier } from "./sd-notify.ts";
export { orList } from "./words.ts";
