// eBPF through libbpf: load an object compiled from native/bpf/*.bpf.c, hand out program fds,
// read and write its maps, and attach a program to a clsact qdisc's egress hook. Policy (which
// program, which mark, when leftovers are ours) lives in TypeScript; this is only plumbing.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include "common.h"

namespace paddock {

namespace {

// The last warnings libbpf printed, attached to load errors (the verifier's reason is there).
// Bounded so a long verifier log cannot grow memory without limit.
constexpr size_t kMaxLibbpfLogBytes = 4096;
std::string libbpfLog;

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  int n = vsnprintf(line, sizeof line, format, args);
  libbpfLog += line;
  if (libbpfLog.size() > kMaxLibbpfLogBytes) libbpfLog.erase(0, libbpfLog.size() - kMaxLibbpfLogBytes);
  return n;
}

// A libbpf error: functions return a negative errno (and set errno) in libbpf 1.x.
int LibbpfErr(int rc) { return rc < 0 ? -rc : (errno != 0 ? errno : EINVAL); }

// Fixed tc hook options for the egress program (handle and priority identify ours).
struct TcTarget {
  unsigned ifindex;
  uint32_t handle;
  uint32_t priority;
};

TcTarget ReadTcTarget(Napi::Env env, const Napi::Object& opts) {
  TcTarget t;
  t.ifindex = ResolveIfindex(env, opts);
  int64_t handle = opts.Get("handle").IsNumber() ? opts.Get("handle").As<Napi::Number>().Int64Value() : 0;
  int64_t prio = opts.Get("priority").IsNumber() ? opts.Get("priority").As<Napi::Number>().Int64Value() : 0;
  if (handle <= 0 || handle > UINT32_MAX) ThrowErrno(env, EINVAL, "bpf_tc", "handle must be 1..2^32-1");
  if (prio <= 0 || prio > 0xffff) ThrowErrno(env, EINVAL, "bpf_tc", "priority must be 1..65535");
  t.handle = static_cast<uint32_t>(handle);
  t.priority = static_cast<uint32_t>(prio);
  return t;
}

}  // namespace

// A loaded BPF object (programs and maps); close() releases every fd it holds. Programs that
// were attached stay alive through the socket or tc filter that references them.
class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpfObject",
                       {
                           InstanceMethod("programFd", &BpfObject::ProgramFd),
                           InstanceMethod("mapLookup", &BpfObject::MapLookup),
                           InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
                           InstanceMethod("testRun", &BpfObject::TestRun),
                           InstanceMethod("close", &BpfObject::Close),
                       });
  }

  // new BpfObject(path): open and load (verify) every program and map in the ELF file.
  explicit BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "new BpfObject(path)");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    libbpfLog.clear();
    errno = 0;
    obj_ = bpf_object__open_file(path.c_str(), nullptr);
    if (obj_ == nullptr) ThrowErrno(env, LibbpfErr(0), "bpf_object__open_file", path + "\n" + libbpfLog);
    int rc = bpf_object__load(obj_);
    if (rc != 0) {
      bpf_object__close(obj_);
      obj_ = nullptr;
      ThrowErrno(env, LibbpfErr(rc), "bpf_object__load", path + "\n" + libbpfLog);
    }
  }

  ~BpfObject() override {
    if (obj_ != nullptr) bpf_object__close(obj_);
  }

 private:
  Napi::Value ProgramFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (obj_ == nullptr) ThrowErrno(env, EBADF, "bpf_program__fd", "object is closed");
    struct bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
    if (prog == nullptr) ThrowErrno(env, ENOENT, "bpf_object__find_program_by_name", name);
    return Napi::Number::New(env, bpf_program__fd(prog));
  }

  struct bpf_map* FindMap(Napi::Env env, const Napi::Value& nameValue) {
    std::string name = nameValue.IsString() ? nameValue.As<Napi::String>().Utf8Value() : "";
    if (obj_ == nullptr) ThrowErrno(env, EBADF, "bpf_map__fd", "object is closed");
    struct bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
    if (map == nullptr) ThrowErrno(env, ENOENT, "bpf_object__find_map_by_name", name);
    return map;
  }

  static Napi::Uint8Array Bytes(Napi::Env env, const Napi::Value& v, size_t size, const char* what) {
    if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(what) + " must be a Uint8Array");
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    if (a.ByteLength() != size) ThrowErrno(env, EINVAL, "bpf_map", std::string(what) + " has the wrong size");
    return a;
  }

  // mapLookup(name, key) → Buffer of the value (value_size bytes, host byte order).
  Napi::Value MapLookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = FindMap(env, info[0]);
    Napi::Uint8Array key = Bytes(env, info[1], bpf_map__key_size(map), "key");
    Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, bpf_map__value_size(map));
    if (bpf_map_lookup_elem(bpf_map__fd(map), key.Data(), value.Data()) != 0) {
      ThrowErrno(env, errno, "bpf_map_lookup_elem", bpf_map__name(map));
    }
    return value;
  }

  // mapUpdate(name, key, value): BPF_ANY update.
  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = FindMap(env, info[0]);
    Napi::Uint8Array key = Bytes(env, info[1], bpf_map__key_size(map), "key");
    Napi::Uint8Array value = Bytes(env, info[2], bpf_map__value_size(map), "value");
    if (bpf_map_update_elem(bpf_map__fd(map), key.Data(), value.Data(), BPF_ANY) != 0) {
      ThrowErrno(env, errno, "bpf_map_update_elem", bpf_map__name(map));
    }
    return env.Undefined();
  }

  // testRun(program, frame, mark) → the program's return value for `frame` (BPF_PROG_TEST_RUN,
  // tc programs see the frame from its Ethernet header, with skb->mark = mark). Lets tests check
  // the kernel-verified program itself against a specification on many frames.
  Napi::Value TestRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    if (obj_ == nullptr) ThrowErrno(env, EBADF, "bpf_prog_test_run_opts", "object is closed");
    if (!info[1].IsTypedArray() || !info[2].IsNumber()) throw Napi::TypeError::New(env, "testRun(name, frame, mark)");
    struct bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
    if (prog == nullptr) ThrowErrno(env, ENOENT, "bpf_object__find_program_by_name", name);
    Napi::Uint8Array frame = info[1].As<Napi::Uint8Array>();
    struct __sk_buff ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.mark = info[2].As<Napi::Number>().Uint32Value();
    DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.Data(),
                        .data_size_in = static_cast<__u32>(frame.ByteLength()), .ctx_in = &ctx,
                        .ctx_size_in = sizeof ctx);
    int rc = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
    if (rc != 0) ThrowErrno(env, LibbpfErr(rc), "bpf_prog_test_run_opts", name);
    return Napi::Number::New(env, opts.retval);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (obj_ != nullptr) {
      bpf_object__close(obj_);
      obj_ = nullptr;
    }
    return info.Env().Undefined();
  }

  struct bpf_object* obj_ = nullptr;
};

// tcAttachEgress({ ifname | ifindex, netnsPath?, progFd, handle, priority, replace? })
//   → { ifindex, createdQdisc }. Creates the clsact qdisc if missing.
static Napi::Value TcAttachEgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "tcAttachEgress(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  int progFd = opts.Get("progFd").IsNumber() ? opts.Get("progFd").As<Napi::Number>().Int32Value() : -1;
  if (progFd < 0) ThrowErrno(env, EBADF, "bpf_tc_attach", "progFd missing");
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  TcTarget t = ReadTcTarget(env, opts);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(t.ifindex), .attach_point = BPF_TC_EGRESS);
  int rc = bpf_tc_hook_create(&hook);
  bool created = rc == 0;
  if (rc != 0 && rc != -EEXIST) ThrowErrno(env, LibbpfErr(rc), "bpf_tc_hook_create", "clsact");
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .prog_fd = progFd, .flags = 0, .handle = t.handle,
                      .priority = t.priority);
  if (opts.Get("replace").ToBoolean()) tc.flags = BPF_TC_F_REPLACE;
  rc = bpf_tc_attach(&hook, &tc);
  if (rc != 0) {
    if (created) {
      hook.attach_point = static_cast<enum bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    ThrowErrno(env, LibbpfErr(rc), "bpf_tc_attach");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("ifindex", Napi::Number::New(env, t.ifindex));
  result.Set("createdQdisc", Napi::Boolean::New(env, created));
  result.Set("progId", Napi::Number::New(env, tc.prog_id));
  return result;
}

// tcQueryEgress({ ifname | ifindex, netnsPath?, handle, priority }) → program id, or null
// when no filter has that handle and priority (or the interface has no clsact qdisc).
static Napi::Value TcQueryEgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "tcQueryEgress(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  TcTarget t = ReadTcTarget(env, opts);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(t.ifindex), .attach_point = BPF_TC_EGRESS);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .handle = t.handle, .priority = t.priority);
  int rc = bpf_tc_query(&hook, &tc);
  if (rc == -ENOENT || rc == -EINVAL) return env.Null();  // no filter, or no clsact qdisc
  if (rc != 0) ThrowErrno(env, LibbpfErr(rc), "bpf_tc_query");
  return Napi::Number::New(env, tc.prog_id);
}

// tcDetachEgress({ ifname | ifindex, netnsPath?, handle, priority }) → true if removed,
// false if there was nothing to remove.
static Napi::Value TcDetachEgress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "tcDetachEgress(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  TcTarget t = ReadTcTarget(env, opts);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(t.ifindex), .attach_point = BPF_TC_EGRESS);
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc, .handle = t.handle, .priority = t.priority);
  int rc = bpf_tc_detach(&hook, &tc);
  if (rc == -ENOENT || rc == -EINVAL) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, LibbpfErr(rc), "bpf_tc_detach");
  return Napi::Boolean::New(env, true);
}

// tcDestroyClsact({ ifname | ifindex, netnsPath? }) → true if a clsact qdisc was removed.
// Removing clsact removes every filter on it, so callers do this only for a qdisc they created.
static Napi::Value TcDestroyClsact(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "tcDestroyClsact(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  unsigned ifindex = ResolveIfindex(env, opts);
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
                      .attach_point = static_cast<enum bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int rc = bpf_tc_hook_destroy(&hook);
  if (rc == -ENOENT || rc == -EINVAL) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, LibbpfErr(rc), "bpf_tc_hook_destroy");
  return Napi::Boolean::New(env, true);
}

// The number of tc filter entries on one clsact hook (parent ffff:fff2 ingress, ffff:fff3
// egress), by an RTM_GETTFILTER dump of every chain. 0 when the hook has none or there is no
// clsact qdisc. libbpf has no way to list filters (bpf_tc_query needs a handle and priority).
static int CountTcFilters(Napi::Env env, unsigned ifindex, uint32_t parent) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) ThrowErrno(env, errno, "socket", "NETLINK_ROUTE");
  struct {
    struct nlmsghdr nh;
    struct tcmsg tc;
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETTFILTER;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = static_cast<int>(ifindex);
  req.tc.tcm_parent = parent;
  if (send(fd, &req, sizeof req, 0) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "send", "RTM_GETTFILTER");
  }
  int count = 0;
  alignas(struct nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      ThrowErrno(env, err, "recv", "RTM_GETTFILTER");
    }
    if (n == 0) break;
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return count;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<struct nlmsgerr*>(NLMSG_DATA(nh));
        close(fd);
        // No such device: the interface (and its filters) is gone.
        if (e->error == -ENODEV || e->error == -EINVAL || e->error == -ENOENT) return 0;
        ThrowErrno(env, -e->error, "RTM_GETTFILTER");
      }
      if (nh->nlmsg_type == RTM_NEWTFILTER) count++;
    }
  }
  close(fd);
  return count;
}

// tcCountFilters({ ifname | ifindex, netnsPath? }) → { ingress, egress }: how many tc filter
// entries the interface's clsact hooks carry (a "filter head" per priority plus one per filter,
// as `tc filter show` prints them). Detach uses it to leave a clsact qdisc that still carries
// another owner's filter: destroying the qdisc would remove those filters too.
static Napi::Value TcCountFilters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "tcCountFilters(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  unsigned ifindex = ResolveIfindex(env, opts);
  Napi::Object result = Napi::Object::New(env);
  result.Set("ingress", Napi::Number::New(env, CountTcFilters(env, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS))));
  result.Set("egress", Napi::Number::New(env, CountTcFilters(env, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS))));
  return result;
}

// bpfProgramName(id) → the kernel's name of a loaded program (≤ 15 chars), or null if gone.
static Napi::Value BpfProgramName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "bpfProgramName(id)");
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "bpf_prog_get_fd_by_id");
  }
  struct bpf_prog_info pinfo;
  memset(&pinfo, 0, sizeof pinfo);
  uint32_t len = sizeof pinfo;
  int rc = bpf_obj_get_info_by_fd(fd, &pinfo, &len);
  int err = errno;
  close(fd);
  if (rc != 0) ThrowErrno(env, err, "bpf_obj_get_info_by_fd");
  return Napi::String::New(env, pinfo.name);
}

void InitBpf(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(LibbpfPrint);
  exports.Set("BpfObject", BpfObject::Define(env));
  exports.Set("tcAttachEgress", Napi::Function::New(env, TcAttachEgress, "tcAttachEgress"));
  exports.Set("tcQueryEgress", Napi::Function::New(env, TcQueryEgress, "tcQueryEgress"));
  exports.Set("tcDetachEgress", Napi::Function::New(env, TcDetachEgress, "tcDetachEgress"));
  exports.Set("tcDestroyClsact", Napi::Function::New(env, TcDestroyClsact, "tcDestroyClsact"));
  exports.Set("tcCountFilters", Napi::Function::New(env, TcCountFilters, "tcCountFilters"));
  exports.Set("bpfProgramName", Napi::Function::New(env, BpfProgramName, "bpfProgramName"));
}

}  // namespace paddock
