// Module entry of paddock_native: error plumbing and network-namespace entry shared by the
// socket and eBPF parts.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common.h"

namespace paddock {

AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

static std::string ErrnoName(int err) {
  // glibc ≥ 2.32: "EPERM" etc.; unknown numbers get a stable synthetic name.
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  char synthetic[16];
  snprintf(synthetic, sizeof synthetic, "E%d", err);
  return synthetic;
}

Napi::Value MakeErrnoError(Napi::Env env, int err, const std::string& syscall,
                           const std::string& detail) {
  AddonData* data = GetAddonData(env);
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    return data->errorFactory.Call({Napi::Number::New(env, err), Napi::String::New(env, ErrnoName(err)),
                          Napi::String::New(env, syscall), Napi::String::New(env, detail),
                          Napi::String::New(env, strerror(err))});
  }
  std::string message = syscall + ": " + ErrnoName(err) + " (" + strerror(err) + ")";
  if (!detail.empty()) message += ": " + detail;
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("errno", ErrnoName(err));
  e.Set("errnoNumber", Napi::Number::New(env, err));
  e.Set("syscall", syscall);
  return e.Value();
}

void ThrowErrno(Napi::Env env, int err, const std::string& syscall, const std::string& detail) {
  throw Napi::Error(env, MakeErrnoError(env, err, syscall, detail));
}

void CallFromLoop(Napi::Env env, Napi::FunctionReference& fn, Napi::AsyncContext& ctx,
                  const std::initializer_list<napi_value>& args) {
  try {
    fn.MakeCallback(env.Global(), args, ctx);
  } catch (const Napi::Error& e) {
    // No JS frame is below us: hand the exception to process 'uncaughtException'.
    napi_fatal_exception(env, e.Value());
  }
}

NetnsGuard::NetnsGuard(Napi::Env env, const std::string& path) {
  if (path.empty()) return;
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(original);
    ThrowErrno(env, err, "open", path);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(original);
    ThrowErrno(env, err, "setns", path);
  }
  close(target);
  original_ = original;
}

NetnsGuard::~NetnsGuard() {
  if (original_ < 0) return;
  if (setns(original_, CLONE_NEWNET) < 0) {
    // Continuing would open later sockets, routes and filters in a foreign namespace.
    fprintf(stderr, "paddock_native: cannot return to the original network namespace: %s\n",
            strerror(errno));
    abort();
  }
  close(original_);
}

std::string OptString(const Napi::Object& o, const char* key) {
  if (!o.Has(key)) return "";
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return "";
  return v.As<Napi::String>().Utf8Value();
}

unsigned ResolveIfindex(Napi::Env env, const Napi::Object& opts) {
  Napi::Value idx = opts.Get("ifindex");
  if (idx.IsNumber()) {
    int64_t v = idx.As<Napi::Number>().Int64Value();
    if (v <= 0 || v > INT32_MAX) ThrowErrno(env, EINVAL, "if_nametoindex", "ifindex out of range");
    return static_cast<unsigned>(v);
  }
  std::string name = OptString(opts, "ifname");
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowErrno(env, EINVAL, "if_nametoindex", "ifname must be 1-15 bytes");
  }
  unsigned index = if_nametoindex(name.c_str());
  if (index == 0) ThrowErrno(env, errno, "if_nametoindex", name);
  return index;
}

static Napi::Value SetErrorFactoryJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "factory must be a function");
  GetAddonData(info.Env())->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<AddonData>(new AddonData());
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactoryJs, "setErrorFactory"));
  InitSockets(env, exports);
  InitBpf(env, exports);
  InitClock(env, exports);
  InitSandbox(env, exports);
  return exports;
}

}  // namespace paddock

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return paddock::Init(env, exports); }

NODE_API_MODULE(paddock_native, InitModule)
