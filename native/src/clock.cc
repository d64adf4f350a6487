// The clock syscall: clock_adjtime(2). The struct timex is encoded and decoded in TypeScript
// (native/lib/clock.ts), so its field rules are unit-testable without touching a clock; this is
// only the call. The layout is checked here at compile time against the offsets TypeScript uses.
#include <sys/timex.h>
#include <time.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "common.h"

namespace paddock {

namespace {

// native/lib/clock.ts TIMEX_LAYOUT: a change of the C layout must fail the build, not the clock.
static_assert(sizeof(struct timex) == 208, "struct timex is 208 bytes on LP64 Linux");
static_assert(offsetof(struct timex, modes) == 0);
static_assert(offsetof(struct timex, offset) == 8);
static_assert(offsetof(struct timex, freq) == 16);
static_assert(offsetof(struct timex, maxerror) == 24);
static_assert(offsetof(struct timex, esterror) == 32);
static_assert(offsetof(struct timex, status) == 40);
static_assert(offsetof(struct timex, constant) == 48);
static_assert(offsetof(struct timex, precision) == 56);
static_assert(offsetof(struct timex, tolerance) == 64);
static_assert(offsetof(struct timex, time) == 72);
static_assert(offsetof(struct timex, tick) == 88);
static_assert(offsetof(struct timex, tai) == 160);

// clockAdjtime(clockId, timex: Uint8Array of 208 bytes) → the clock state (TIME_OK, TIME_INS, …).
// The buffer is read as the request and overwritten with what the kernel returns.
Napi::Value ClockAdjtimeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "clockAdjtime(clockId, timex: Uint8Array)");
  }
  auto clockId = static_cast<clockid_t>(info[0].As<Napi::Number>().Int32Value());
  auto buf = info[1].As<Napi::Uint8Array>();
  if (buf.ByteLength() != sizeof(struct timex)) ThrowErrno(env, EINVAL, "clock_adjtime", "timex must be 208 bytes");
  struct timex tx;
  std::memcpy(&tx, buf.Data(), sizeof tx);
  int state = clock_adjtime(clockId, &tx);
  if (state < 0) ThrowErrno(env, errno, "clock_adjtime");
  std::memcpy(buf.Data(), &tx, sizeof tx);
  return Napi::Number::New(env, state);
}

}  // namespace

void InitClock(Napi::Env env, Napi::Object exports) {
  exports.Set("clockAdjtime", Napi::Function::New(env, ClockAdjtimeJs, "clockAdjtime"));
}

}  // namespace paddock
