// Shared helpers of the paddock_native addon: errno-carrying errors and network-namespace entry.
// The addon stays thin (STYLE.md §11): it does only what TypeScript cannot, and every failure
// becomes a NativeError built by the TypeScript side's factory, so JS sees one error type.
#pragma once

#include <napi.h>

#include <string>

namespace paddock {

// Per-environment state (instance data), so the addon also works in worker threads.
struct AddonData {
  // `(errnoNumber, errnoName, syscall, detail, strerror) => NativeError`, registered by native/lib/index.ts
  // at load time; errors created before registration fall back to a plain Error.
  Napi::FunctionReference errorFactory;
  // Constructor of the Socket class, used to wrap descriptors opened by the open* functions.
  Napi::FunctionReference socketConstructor;
};

AddonData* GetAddonData(Napi::Env env);

// Builds the NativeError value for `err` (a positive errno) failing in `syscall`.
Napi::Value MakeErrnoError(Napi::Env env, int err, const std::string& syscall,
                           const std::string& detail = "");

// Throws the NativeError as a C++ exception (node-addon-api turns it into a JS throw).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& syscall,
                             const std::string& detail = "");

// Calls a JS callback from a libuv callback (no JS on the stack). An exception thrown by the
// callback is reported as an uncaught exception, like one thrown by an EventEmitter listener.
void CallFromLoop(Napi::Env env, Napi::FunctionReference& fn, Napi::AsyncContext& ctx,
                  const std::initializer_list<napi_value>& args);

// Runs a block on the calling thread inside the network namespace at `path` ("" = stay).
// setns(2) with CLONE_NEWNET affects only the calling thread, and sockets keep the namespace
// they were created in, so we enter, create, and return. If returning fails the thread would
// silently keep operating in the wrong namespace, so that case aborts the process.
class NetnsGuard {
 public:
  NetnsGuard(Napi::Env env, const std::string& path);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  int original_ = -1;
};

// Reads an optional string property; "" when absent or undefined.
std::string OptString(const Napi::Object& o, const char* key);

// Resolves an interface (by "ifname" or "ifindex" property) in the calling thread's namespace.
unsigned ResolveIfindex(Napi::Env env, const Napi::Object& opts);

void InitSockets(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitClock(Napi::Env env, Napi::Object exports);
void InitSandbox(Napi::Env env, Napi::Object exports);

}  // namespace paddock
