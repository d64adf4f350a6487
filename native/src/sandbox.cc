// The priv's own sandbox (issue 12): what only a system call can do, on every thread of the
// process. Which capabilities to keep and which system calls to refuse are decided in TypeScript
// (packages/runtime/src/priv-sandbox/); the seccomp program arrives here already assembled.
//
// Capabilities are per thread in Linux: capset(2) and PR_CAPBSET_DROP change only the calling
// thread. Node runs V8 and libuv threads beside the main one, so the drop is applied by each
// thread to itself from a signal handler (the way libcap's psx does it): all threads signalled at
// once, passes repeated until one over /proc/self/task finds none left. seccomp needs no such dance:
// SECCOMP_FILTER_FLAG_TSYNC installs the filter, and NoNewPrivs with it, on every thread.
#include <dirent.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "common.h"

namespace paddock {

namespace {

// What each thread applies to itself: the capabilities to keep (bit n = capability n), up to
// the kernel's last capability. Written before any thread is signalled, read in the handler.
struct CapPlan {
  uint64_t keep = 0;
  int lastCap = 0;
};
CapPlan g_plan;
// The threads that ran the handler (their tids, in the order they ran it) and the first errno one
// of them met (0: none). The caller signals every thread it found, then waits for each tid here.
constexpr int kMaxThreads = 1024;
std::atomic<pid_t> g_acked[kMaxThreads];
std::atomic<int> g_ackCount{0};
std::atomic<int> g_ackErr{0};

// Async-signal-safe: raw system calls only. Returns 0 or the errno that stopped it.
int DropCapabilitiesOfThisThread() {
  // The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set.
  for (int cap = 0; cap <= g_plan.lastCap; cap++) {
    if ((g_plan.keep >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return errno;
  }
  // EINVAL: a kernel without ambient capabilities (< 4.3) has none to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return errno;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &header, data) < 0) return errno;
  for (int word = 0; word < _LINUX_CAPABILITY_U32S_3; word++) {
    auto keep = static_cast<uint32_t>(g_plan.keep >> (32 * word));
    data[word].permitted &= keep;
    data[word].effective = data[word].permitted;
    data[word].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) < 0) return errno;
  return 0;
}

void OnDropSignal(int) {
  int saved = errno;
  int err = DropCapabilitiesOfThisThread();
  int expected = 0;
  if (err != 0) g_ackErr.compare_exchange_strong(expected, err);
  int slot = g_ackCount.fetch_add(1);
  if (slot < kMaxThreads) g_acked[slot].store(static_cast<pid_t>(syscall(SYS_gettid)));
  errno = saved;
}

// Whether `tid` ran the handler since the last reset.
bool Acked(pid_t tid) {
  int count = std::min(g_ackCount.load(), kMaxThreads);
  for (int i = 0; i < count; i++) {
    if (g_acked[i].load() == tid) return true;
  }
  return false;
}

// The signal that carries the drop to other threads: a real-time one nothing in Node uses.
int DropSignal() { return SIGRTMIN + 4; }

// How long to wait for one thread to run the handler. A thread runs it as soon as the kernel
// schedules it, so this only bounds a hang (a thread stuck in an uninterruptible wait): such a
// thread is reported as unreachable, not waited for forever.
constexpr int kThreadWaitMs = 5000;

// The process's threads; throws when /proc cannot tell (the drop would miss threads).
std::vector<pid_t> ThreadIds(Napi::Env env) {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) ThrowErrno(env, errno, "opendir", "/proc/self/task");
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    tids.push_back(static_cast<pid_t>(atoi(entry->d_name)));
  }
  closedir(dir);
  return tids;
}

// Whether thread `tid` blocks `signo` (its SigBlk line in /proc): such a thread (Node's SIGUSR1
// watcher blocks every signal) cannot run the handler, and is reported instead of waited for.
bool BlocksSignal(pid_t tid, int signo) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  FILE* f = fopen(path, "re");
  if (f == nullptr) return false;
  char line[256];
  bool blocked = false;
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, "SigBlk:", 7) == 0) {
      uint64_t mask = strtoull(line + 7, nullptr, 16);
      blocked = ((mask >> (signo - 1)) & 1) != 0;
      break;
    }
  }
  fclose(f);
  return blocked;
}

void SleepUs(long us) {
  timespec ts{us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

// dropCapabilities(keep: bigint, lastCap: number) → { threads, unreachable: number[] }.
// Every thread of the process keeps only `keep` in its bounding, permitted and effective sets,
// with empty inheritable and ambient sets. `unreachable` lists threads that block the signal
// (they hold their capabilities but run no code of ours or of any caller's).
Napi::Value DropCapabilitiesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBigInt() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "dropCapabilities(keep: bigint, lastCap: number)");
  bool lossless = false;
  uint64_t keep = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  int lastCap = info[1].As<Napi::Number>().Int32Value();
  if (!lossless || lastCap < 0 || lastCap > 63) ThrowErrno(env, EINVAL, "capset", "capabilities are numbered 0-63");
  g_plan = CapPlan{keep, lastCap};

  int signo = DropSignal();
  struct sigaction previous {};
  if (sigaction(signo, nullptr, &previous) < 0) ThrowErrno(env, errno, "sigaction");
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != OnDropSignal) {
    ThrowErrno(env, EBUSY, "sigaction", "the signal SIGRTMIN+4 already has a handler");
  }
  // Installed for good: a thread that unblocks the signal later still runs it (harmless, the same
  // drop again), where the default action would end the process.
  struct sigaction action {};
  action.sa_handler = OnDropSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(signo, &action, nullptr) < 0) ThrowErrno(env, errno, "sigaction");

  pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  int err = DropCapabilitiesOfThisThread();
  if (err != 0) ThrowErrno(env, err, "capset", "this thread");
  std::set<pid_t> done{self};
  std::set<pid_t> unreachable;
  // Each pass signals every thread not yet handled at once, then waits for all of them: the
  // handlers run side by side, each on its own thread. A thread started meanwhile (by one that had
  // not dropped yet) is found by the next pass; a pass that finds none ends it.
  for (;;) {
    std::vector<pid_t> sent;
    for (pid_t tid : ThreadIds(env)) {
      if (done.count(tid) != 0 || unreachable.count(tid) != 0) continue;
      if (BlocksSignal(tid, signo)) {
        unreachable.insert(tid);
        continue;
      }
      sent.push_back(tid);
    }
    if (sent.empty()) break;
    if (sent.size() > static_cast<size_t>(kMaxThreads)) ThrowErrno(env, E2BIG, "capset", "more than 1024 threads");
    g_ackCount.store(0);
    for (pid_t tid : sent) {
      if (syscall(SYS_tgkill, getpid(), tid, signo) == 0) continue;
      if (errno != ESRCH) ThrowErrno(env, errno, "tgkill");
      done.insert(tid);  // it ended meanwhile
    }
    for (int waitedUs = 0;; waitedUs += 100) {
      bool all = true;
      for (pid_t tid : sent) all = all && (done.count(tid) != 0 || Acked(tid));
      if (all || waitedUs >= kThreadWaitMs * 1000) break;
      SleepUs(100);
    }
    if (g_ackErr.load() != 0) ThrowErrno(env, g_ackErr.load(), "capset", "another thread");
    for (pid_t tid : sent) (Acked(tid) ? done : unreachable).insert(tid);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("threads", Napi::Number::New(env, static_cast<double>(done.size())));
  Napi::Array skipped = Napi::Array::New(env, unreachable.size());
  uint32_t n = 0;
  for (pid_t tid : unreachable) skipped.Set(n++, Napi::Number::New(env, tid));
  result.Set("unreachable", skipped);
  return result;
}

// installSeccomp(program: Uint8Array of struct sock_filter) → undefined. Sets NoNewPrivs and
// installs the filter on every thread (TSYNC); children inherit both.
Napi::Value InstallSeccompJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "installSeccomp(program: Uint8Array)");
  auto program = info[0].As<Napi::Uint8Array>();
  size_t bytes = program.ByteLength();
  if (bytes == 0 || bytes % sizeof(sock_filter) != 0 || bytes / sizeof(sock_filter) > BPF_MAXINSNS) {
    ThrowErrno(env, EINVAL, "seccomp", "the program must be 1-4096 instructions of 8 bytes");
  }
  // The copy is aligned for struct sock_filter whatever the typed array's offset.
  std::vector<sock_filter> insns(bytes / sizeof(sock_filter));
  std::memcpy(insns.data(), program.Data(), bytes);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ThrowErrno(env, errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  sock_fprog fprog{static_cast<unsigned short>(insns.size()), insns.data()};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (rc < 0) ThrowErrno(env, errno, "seccomp");
  // A positive result names a thread that could not be synchronised (it has another filter).
  if (rc > 0) ThrowErrno(env, ESRCH, "seccomp", "thread " + std::to_string(rc) + " could not take the filter");
  return env.Undefined();
}

void IgnoreSignal(int) {}

// ignoreDebugSignal(): SIGUSR1 does nothing. Node's own handler for it opens the inspector on
// 127.0.0.1:9229 (Node 20 has no --disable-sigusr1), and a JS listener does not replace it. A
// handler, not SIG_IGN, so children started with execve() get the default disposition back.
Napi::Value IgnoreDebugSignalJs(const Napi::CallbackInfo& info) {
  struct sigaction action {};
  action.sa_handler = IgnoreSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGUSR1, &action, nullptr) < 0) ThrowErrno(info.Env(), errno, "sigaction", "SIGUSR1");
  return info.Env().Undefined();
}

}  // namespace

void InitSandbox(Napi::Env env, Napi::Object exports) {
  exports.Set("dropCapabilities", Napi::Function::New(env, DropCapabilitiesJs, "dropCapabilities"));
  exports.Set("installSeccomp", Napi::Function::New(env, InstallSeccompJs, "installSeccomp"));
  exports.Set("ignoreDebugSignal", Napi::Function::New(env, IgnoreDebugSignalJs, "ignoreDebugSignal"));
}

}  // namespace paddock
