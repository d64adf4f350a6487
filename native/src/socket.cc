// Datagram sockets TypeScript cannot open: AF_PACKET (with a filter attached before bind),
// UDP with kernel receive timestamps, and NETLINK_ROUTE. Receive is driven by uv_poll on the
// Node event loop: a thread-pool recv() is not woken by close() (DESIGN.md, measured facts),
// while a poll handle is stopped synchronously and the descriptor closed at once.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common.h"

namespace paddock {

namespace {

// Largest datagram we accept: an IPv4/IPv6 datagram or an Ethernet frame with a 64 KiB
// payload fits; netlink dumps are sized per message with MSG_PEEK|MSG_TRUNC instead.
constexpr size_t kMaxDatagramBytes = 65536 + 64;
// Datagrams handled per poll wake-up, so one busy socket cannot starve timers and other I/O.
constexpr int kMaxReceivesPerWake = 64;
// Netlink receive buffer: a full route or address dump of a busy host plus pending events;
// an overflow loses events (ENOBUFS), which the caller must then resynchronise from a dump.
constexpr int kNetlinkRcvbufBytes = 1 << 20;
// Classic BPF programs are at most BPF_MAXINSNS (4096) instructions in the kernel.
constexpr size_t kMaxClassicInsns = BPF_MAXINSNS;

// Transmit timestamps of a UDP socket: software, taken when the driver hands the packet to the
// device (SOF_TIMESTAMPING_TX_SOFTWARE; veth and loopback do), reported with the id the send
// chose (OPT_ID with a per-send SCM_TS_OPT_ID, Linux >= 6.13: the kernel's implicit per-socket
// counter drifts from ours when a send fails after taking a key, e.g. EAGAIN on a full buffer),
// without the packet (OPT_TSONLY), and no software timestamps on received datagrams beyond the
// SO_TIMESTAMPNS ones (OPT_RX_FILTER).
#ifndef SCM_TS_OPT_ID
#if defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) || defined(__arm__) || defined(__riscv)
#define SCM_TS_OPT_ID 81  // asm-generic/socket.h, Linux 6.13
#endif
#endif
#ifndef SOF_TIMESTAMPING_OPT_RX_FILTER
#define SOF_TIMESTAMPING_OPT_RX_FILTER (1 << 17)
#endif
constexpr int kTxTimestampFlags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
                                  SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_RX_FILTER;

// Whether the running kernel is at least major.minor (uname release "6.18.44-…").
bool KernelAtLeast(int major, int minor) {
  struct utsname u;
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

enum class Kind { kPacket, kUdp, kNetlink };

// One receive buffer per process is enough: the loop is single-threaded and every datagram is
// copied into its own Buffer before JS runs.
std::vector<uint8_t>& ReceiveBuffer(size_t atLeast) {
  static std::vector<uint8_t> buffer(kMaxDatagramBytes);
  if (buffer.size() < atLeast) buffer.resize(atLeast);
  return buffer;
}

uint64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The SCM_TIMESTAMPNS control message, or the current time if the kernel attached none
// (it always does once SO_TIMESTAMPNS is set; the fallback only keeps the type total).
uint64_t TimestampFromCmsg(struct msghdr* msg) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    }
  }
  return RealtimeNs();
}

// Whether the kernel says the frame's transport checksum is not filled in yet (PACKET_AUXDATA's
// TP_STATUS_CSUMNOTREADY): frames from a local veth or tap with checksum offload, whose UDP
// checksum field holds only the pseudo-header's partial sum. Receivers must not verify it.
bool ChecksumPendingFromCmsg(struct msghdr* msg) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
      struct tpacket_auxdata aux;
      memcpy(&aux, CMSG_DATA(c), sizeof aux);
      return (aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
    }
  }
  return false;
}

void SetIntOpt(Napi::Env env, int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) < 0) {
    ThrowErrno(env, errno, "setsockopt", what);
  }
}

// SO_MARK from an optional "mark" option (needs CAP_NET_ADMIN).
void SetMark(Napi::Env env, int fd, const Napi::Object& opts) {
  if (!opts.Get("mark").IsNumber()) return;
  int64_t mark = opts.Get("mark").As<Napi::Number>().Int64Value();
  if (mark < 0 || mark > UINT32_MAX) ThrowErrno(env, EINVAL, "setsockopt", "mark out of range");
  uint32_t m = static_cast<uint32_t>(mark);
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof m) < 0) ThrowErrno(env, errno, "setsockopt", "SO_MARK");
}

// Closes a descriptor unless released; keeps the open* functions leak-free on every throw.
struct FdOwner {
  int fd;
  explicit FdOwner(int f) : fd(f) {}
  ~FdOwner() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

struct sock_fprog ClassicProgram(Napi::Env env, Napi::Value v, std::vector<struct sock_filter>& insns) {
  if (!v.IsTypedArray() && !v.IsBuffer()) {
    ThrowErrno(env, EINVAL, "setsockopt", "classic filter must be a Uint8Array");
  }
  Napi::Uint8Array bytes = v.As<Napi::Uint8Array>();
  size_t len = bytes.ByteLength();
  if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
      len / sizeof(struct sock_filter) > kMaxClassicInsns) {
    ThrowErrno(env, EINVAL, "setsockopt", "classic filter must be 1-4096 struct sock_filter");
  }
  insns.resize(len / sizeof(struct sock_filter));
  memcpy(insns.data(), bytes.Data(), len);
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(insns.size());
  prog.filter = insns.data();
  return prog;
}

}  // namespace

// A non-blocking datagram socket whose receive path is a uv_poll handle on the Node loop.
class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Socket",
                       {
                           InstanceMethod("start", &Socket::Start),
                           InstanceMethod("send", &Socket::Send),
                           InstanceMethod("sendTo", &Socket::SendTo),
                           InstanceMethod("close", &Socket::Close),
                           InstanceMethod("ref", &Socket::RefLoop),
                           InstanceMethod("unref", &Socket::UnrefLoop),
                           InstanceMethod("setClassicFilter", &Socket::SetClassicFilter),
                           InstanceMethod("detachFilter", &Socket::DetachFilter),
                           InstanceMethod("stats", &Socket::Stats),
                       });
  }

  static Napi::Object Wrap(Napi::Env env, int fd, Kind kind, bool txTimestamps = false) {
    Napi::Object obj = GetAddonData(env)->socketConstructor.New({});
    Socket* s = Socket::Unwrap(obj);
    s->fd_ = fd;
    s->kind_ = kind;
    s->txTimestamps_ = txTimestamps;
    return obj;
  }

  explicit Socket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Socket>(info) {}

  ~Socket() override {
    // Reached only when not polling (polling holds a reference), so no handle is live.
    if (fd_ >= 0) close(fd_);
  }

 private:
  // start(onMessage, onError, onTxTimestamp?): begins delivering datagrams (and, for a UDP
  // socket with transmit timestamps, `(sendId, txTimeNs)` for each datagram sent). Polling keeps a reference to this
  // object (so it is not collected while the kernel may still deliver) until close().
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "uv_poll_start", "socket is closed");
    if (poll_ != nullptr) ThrowErrno(env, EALREADY, "uv_poll_start", "already receiving");
    if (!info[0].IsFunction() || !info[1].IsFunction()) {
      throw Napi::TypeError::New(env, "start(onMessage, onError) needs two functions");
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) ThrowErrno(env, EINVAL, "napi_get_uv_event_loop");
    auto* poll = new uv_poll_t;
    int rc = uv_poll_init_socket(loop, poll, fd_);
    if (rc < 0) {
      delete poll;
      ThrowErrno(env, -rc, "uv_poll_init");
    }
    poll->data = this;
    rc = uv_poll_start(poll, UV_READABLE, &Socket::OnReadable);
    if (rc < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), &Socket::FreeHandle);
      ThrowErrno(env, -rc, "uv_poll_start");
    }
    if (!loopRef_) uv_unref(reinterpret_cast<uv_handle_t*>(poll));
    poll_ = poll;
    onMessage_ = Napi::Persistent(info[0].As<Napi::Function>());
    onError_ = Napi::Persistent(info[1].As<Napi::Function>());
    if (info[2].IsFunction()) onTx_ = Napi::Persistent(info[2].As<Napi::Function>());
    asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "PaddockSocket", Value());
    Ref();
    return env.Undefined();
  }

  // send(bytes): a frame on the bound interface, or a netlink message to the kernel.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "send", "socket is closed");
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "send(bytes) needs a Uint8Array");
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    ssize_t n;
    if (kind_ == Kind::kNetlink) {
      struct sockaddr_nl kernel;
      memset(&kernel, 0, sizeof kernel);
      kernel.nl_family = AF_NETLINK;
      do {
        n = sendto(fd_, bytes.Data(), bytes.ByteLength(), 0,
                   reinterpret_cast<struct sockaddr*>(&kernel), sizeof kernel);
      } while (n < 0 && errno == EINTR);
      if (n < 0) ThrowErrno(env, errno, "sendto");
    } else {
      do {
        n = send(fd_, bytes.Data(), bytes.ByteLength(), 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) ThrowErrno(env, errno, "send");
    }
    if (static_cast<size_t>(n) != bytes.ByteLength()) ThrowErrno(env, EMSGSIZE, "send", "short send");
    return env.Undefined();
  }

  // sendTo(bytes, address, port) → the send's id: one UDP datagram. With transmit timestamps the
  // id goes with it (SCM_TS_OPT_ID) and comes back with its timestamp.
  Napi::Value SendTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "sendto", "socket is closed");
    if (kind_ != Kind::kUdp) ThrowErrno(env, EOPNOTSUPP, "sendto", "only UDP sockets send to an address");
    if (!info[0].IsTypedArray() || !info[1].IsString() || !info[2].IsNumber()) {
      throw Napi::TypeError::New(env, "sendTo(bytes, address, port)");
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    std::string address = info[1].As<Napi::String>().Utf8Value();
    int64_t port = info[2].As<Napi::Number>().Int64Value();
    if (port < 0 || port > 65535) ThrowErrno(env, EINVAL, "sendto", "port out of range");
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (!ParseAddress(address, static_cast<uint16_t>(port), &ss, &sslen)) {
      ThrowErrno(env, EINVAL, "inet_pton", address);
    }
    uint32_t id = nextSendId_++;
    struct iovec iov = {bytes.Data(), bytes.ByteLength()};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &ss;
    msg.msg_namelen = sslen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(uint32_t))];
#ifdef SCM_TS_OPT_ID
    if (txTimestamps_) {
      memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_TS_OPT_ID;
      c->cmsg_len = CMSG_LEN(sizeof id);
      memcpy(CMSG_DATA(c), &id, sizeof id);
    }
#endif
    ssize_t n;
    do {
      n = sendmsg(fd_, &msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) ThrowErrno(env, errno, "sendto", address);
    return Napi::Number::New(env, id);
  }

  // close(): stops the poll handle and closes the descriptor synchronously, so a pending
  // receive ends at once; the handle memory is freed by libuv on its next turn.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    DoClose();
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    loopRef_ = true;
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    loopRef_ = false;
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  // setClassicFilter(bytes): SO_ATTACH_FILTER on an open socket. After SO_LOCK_FILTER the
  // kernel refuses with EPERM; the method exists so tests can prove that.
  Napi::Value SetClassicFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "setsockopt", "socket is closed");
    std::vector<struct sock_filter> insns;
    struct sock_fprog prog = ClassicProgram(env, info[0], insns);
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
      ThrowErrno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
    }
    return env.Undefined();
  }

  // detachFilter(): SO_DETACH_FILTER (EPERM once locked).
  Napi::Value DetachFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) ThrowErrno(env, EBADF, "setsockopt", "socket is closed");
    int unused = 0;
    if (setsockopt(fd_, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) < 0) {
      ThrowErrno(env, errno, "setsockopt", "SO_DETACH_FILTER");
    }
    return env.Undefined();
  }

  // stats(): the kernel's and our own receive counters. For packet sockets PACKET_STATISTICS
  // counts frames that passed the filter (tp_packets) and those dropped for lack of buffer
  // space (tp_drops); reading them resets them, so we accumulate.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    if (kind_ == Kind::kPacket && fd_ >= 0) {
      struct tpacket_stats st;
      socklen_t len = sizeof st;
      if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) {
        ThrowErrno(env, errno, "getsockopt", "PACKET_STATISTICS");
      }
      kernelPackets_ += st.tp_packets;
      kernelDrops_ += st.tp_drops;
    }
    o.Set("delivered", Napi::Number::New(env, static_cast<double>(delivered_)));
    o.Set("discarded", Napi::Number::New(env, static_cast<double>(discarded_)));
    o.Set("kernelPackets", Napi::Number::New(env, static_cast<double>(kernelPackets_)));
    o.Set("kernelDrops", Napi::Number::New(env, static_cast<double>(kernelDrops_)));
    return o;
  }

  void DoClose() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &Socket::FreeHandle);
      poll_ = nullptr;
      onMessage_.Reset();
      onError_.Reset();
      onTx_.Reset();
      asyncContext_.reset();
      Unref();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  static void FreeHandle(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    (void)events;
    Socket* self = static_cast<Socket*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // libuv reports EPOLLERR as UV_EBADF and stops the handle. For a UDP socket with transmit
      // timestamps that is usually its error queue holding timestamps: drain and deliver them.
      // For a packet socket it is usually a pending socket error (ENETDOWN while its interface is
      // down): read it with SO_ERROR, which also clears it, report it, and keep receiving. Only a
      // descriptor that really is bad stops the socket.
      int drained = self->txTimestamps_ ? self->DrainErrorQueue() : 0;
      if (self->poll_ != handle) return;  // closed by a callback
      int pending = 0;
      socklen_t len = sizeof pending;
      bool fdOk = self->fd_ >= 0 && getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &pending, &len) == 0;
      if ((fdOk && pending != 0) || drained == 0) {
        self->DeliverError(fdOk && pending != 0 ? pending : -status, fdOk && pending != 0 ? "recvmsg" : "uv_poll");
      }
      // Restart only after a real socket error, which SO_ERROR has now cleared, or a drained error
      // queue: an EPOLLERR with nothing behind it would come straight back and spin.
      if (fdOk && (pending != 0 || drained > 0) && self->poll_ == handle) {
        int rc = uv_poll_start(handle, UV_READABLE, &Socket::OnReadable);
        if (rc < 0) self->DeliverError(-rc, "uv_poll_start");
      }
      return;
    }
    for (int i = 0; i < kMaxReceivesPerWake && self->poll_ == handle; i++) {
      if (!self->ReceiveOne()) break;
    }
  }

  // Reads the error queue (at most kMaxReceivesPerWake entries; the rest comes with the next
  // EPOLLERR) and delivers each software transmit timestamp with its send id. Returns the count.
  int DrainErrorQueue() {
    Napi::Env env = Env();
    int count = 0;
    for (int i = 0; i < kMaxReceivesPerWake && fd_ >= 0 && poll_ != nullptr; i++) {
      char data[1];
      alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct scm_timestamping)) +
                                           CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
      struct iovec iov = {data, sizeof data};
      struct msghdr msg;
      memset(&msg, 0, sizeof msg);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      count++;
      uint64_t ns = 0;
      bool isSend = false;
      uint32_t id = 0;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct scm_timestamping))) {
          struct scm_timestamping ts;
          memcpy(&ts, CMSG_DATA(c), sizeof ts);
          ns = static_cast<uint64_t>(ts.ts[0].tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.ts[0].tv_nsec);
        } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct sock_extended_err))) {
          struct sock_extended_err ee;
          memcpy(&ee, CMSG_DATA(c), sizeof ee);
          isSend = ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && ee.ee_info == SCM_TSTAMP_SND;
          id = ee.ee_data;
        }
      }
      if (isSend && ns != 0 && !onTx_.IsEmpty()) {
        Napi::HandleScope scope(env);
        CallFromLoop(env, onTx_, *asyncContext_, {Napi::Number::New(env, id), Napi::BigInt::New(env, ns)});
      }
    }
    return count;
  }

  void DeliverError(int err, const char* syscall, const std::string& detail = "") {
    if (poll_ == nullptr) return;
    Napi::Env env = Env();
    Napi::Value e = MakeErrnoError(env, err, syscall, detail);
    CallFromLoop(env, onError_, *asyncContext_, {e});
  }

  // Receives and delivers one datagram; false when there is nothing more to read now.
  bool ReceiveOne() {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    size_t want = kMaxDatagramBytes;
    if (kind_ == Kind::kNetlink) {
      // A dump reply can exceed any fixed buffer: ask the kernel for this datagram's size.
      ssize_t n = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (n < 0) return HandleRecvError(errno, "recv");
      if (static_cast<size_t>(n) > want) want = static_cast<size_t>(n);
    }
    std::vector<uint8_t>& buf = ReceiveBuffer(want);
    struct sockaddr_storage from;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct timespec)) * 2 + CMSG_SPACE(sizeof(struct tpacket_auxdata)) +
                                         CMSG_SPACE(sizeof(struct scm_timestamping))];
    struct iovec iov = {buf.data(), want};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (kind_ != Kind::kNetlink) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
    }
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return HandleRecvError(errno, "recvmsg");
    if (static_cast<size_t>(n) > want || (msg.msg_flags & MSG_TRUNC) != 0) {
      discarded_++;
      DeliverError(EMSGSIZE, "recvmsg", "datagram larger than the receive buffer, dropped");
      return poll_ != nullptr;
    }
    if (kind_ == Kind::kNetlink) {
      // Any local process may unicast to our port id; only the kernel (port 0) is trusted.
      auto* nl = reinterpret_cast<struct sockaddr_nl*>(&from);
      if (msg.msg_namelen < sizeof(struct sockaddr_nl) || nl->nl_family != AF_NETLINK || nl->nl_pid != 0) {
        discarded_++;
        return true;
      }
    }
    delivered_++;
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(n));
    switch (kind_) {
      case Kind::kNetlink:
        CallFromLoop(env, onMessage_, *asyncContext_, {data});
        break;
      case Kind::kPacket: {
        Napi::BigInt ts = Napi::BigInt::New(env, TimestampFromCmsg(&msg));
        Napi::Boolean pending = Napi::Boolean::New(env, ChecksumPendingFromCmsg(&msg));
        CallFromLoop(env, onMessage_, *asyncContext_, {data, ts, pending});
        break;
      }
      case Kind::kUdp: {
        Napi::BigInt ts = Napi::BigInt::New(env, TimestampFromCmsg(&msg));
        char text[INET6_ADDRSTRLEN] = "";
        uint16_t port = 0;
        if (from.ss_family == AF_INET) {
          auto* sin = reinterpret_cast<struct sockaddr_in*>(&from);
          inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
          port = ntohs(sin->sin_port);
        } else if (from.ss_family == AF_INET6) {
          auto* sin6 = reinterpret_cast<struct sockaddr_in6*>(&from);
          inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
          port = ntohs(sin6->sin6_port);
        }
        CallFromLoop(env, onMessage_, *asyncContext_,
                     {data, Napi::String::New(env, text), Napi::Number::New(env, port), ts});
        break;
      }
    }
    return poll_ != nullptr;
  }

  bool HandleRecvError(int err, const char* syscall) {
    if (err == EAGAIN || err == EWOULDBLOCK) return false;
    if (err == EINTR) return true;
    // E.g. ENOBUFS on netlink (events lost) or ENETDOWN on a packet socket: report, and wait
    // for the next readiness rather than spinning on a persistent error.
    DeliverError(err, syscall);
    return false;
  }

 public:
  static bool ParseAddress(const std::string& address, uint16_t port, struct sockaddr_storage* ss,
                           socklen_t* len) {
    memset(ss, 0, sizeof *ss);
    auto* sin = reinterpret_cast<struct sockaddr_in*>(ss);
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      *len = sizeof *sin;
      return true;
    }
    auto* sin6 = reinterpret_cast<struct sockaddr_in6*>(ss);
    if (inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr) == 1) {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      *len = sizeof *sin6;
      return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
  Kind kind_ = Kind::kPacket;
  uv_poll_t* poll_ = nullptr;
  bool loopRef_ = true;
  bool txTimestamps_ = false;
  uint32_t nextSendId_ = 0;
  Napi::FunctionReference onTx_;
  Napi::FunctionReference onMessage_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  uint64_t delivered_ = 0;
  uint64_t discarded_ = 0;
  uint64_t kernelPackets_ = 0;
  uint64_t kernelDrops_ = 0;
};

// openPacket({ ifname | ifindex, protocol, classicFilter | bpfProgFd, mark?, netnsPath?,
// receiveBufferBytes? }) → { socket, ifindex }.
// The socket is created with protocol 0, which receives nothing, so the filter and its lock are
// in place before bind() starts delivery: no unfiltered frame can be queued (DESIGN.md inv. 2).
static Napi::Value OpenPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "openPacket(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  int64_t protocol = opts.Get("protocol").IsNumber() ? opts.Get("protocol").As<Napi::Number>().Int64Value() : -1;
  if (protocol <= 0 || protocol > 0xffff) ThrowErrno(env, EINVAL, "socket", "protocol must be an ethertype");
  std::vector<struct sock_filter> insns;
  struct sock_fprog classic = {0, nullptr};
  int bpfFd = -1;
  if (opts.Get("bpfProgFd").IsNumber()) {
    bpfFd = opts.Get("bpfProgFd").As<Napi::Number>().Int32Value();
  } else {
    classic = ClassicProgram(env, opts.Get("classicFilter"), insns);
  }

  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  unsigned ifindex = ResolveIfindex(env, opts);
  FdOwner fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) ThrowErrno(env, errno, "socket", "AF_PACKET");
  if (bpfFd >= 0) {
    SetIntOpt(env, fd.fd, SOL_SOCKET, SO_ATTACH_BPF, bpfFd, "SO_ATTACH_BPF");
  } else if (setsockopt(fd.fd, SOL_SOCKET, SO_ATTACH_FILTER, &classic, sizeof classic) < 0) {
    ThrowErrno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
  }
  SetIntOpt(env, fd.fd, SOL_SOCKET, SO_LOCK_FILTER, 1, "SO_LOCK_FILTER");
  SetIntOpt(env, fd.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
  SetIntOpt(env, fd.fd, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
  SetIntOpt(env, fd.fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
  SetMark(env, fd.fd, opts);
  if (opts.Get("receiveBufferBytes").IsNumber()) {
    int bytes = opts.Get("receiveBufferBytes").As<Napi::Number>().Int32Value();
    if (setsockopt(fd.fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) {
      SetIntOpt(env, fd.fd, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF");
    }
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(static_cast<uint16_t>(protocol));
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd.fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) < 0) {
    ThrowErrno(env, errno, "bind", "AF_PACKET");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("socket", Socket::Wrap(env, fd.release(), Kind::kPacket));
  result.Set("ifindex", Napi::Number::New(env, ifindex));
  return result;
}

// openUdp({ address, port, netnsPath?, reuseAddress?, ifname?, mark?, txTimestamps? })
//   → { socket, address, port }.
// SO_MARK is set before bind, so every datagram the socket ever sends carries it (the service's
// tc egress program keys on it).
static Napi::Value OpenUdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "openUdp(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  std::string address = OptString(opts, "address");
  int64_t port = opts.Get("port").IsNumber() ? opts.Get("port").As<Napi::Number>().Int64Value() : 0;
  if (port < 0 || port > 65535) ThrowErrno(env, EINVAL, "bind", "port out of range");
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!Socket::ParseAddress(address, static_cast<uint16_t>(port), &ss, &sslen)) {
    ThrowErrno(env, EINVAL, "inet_pton", address);
  }
  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  FdOwner fd(socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) ThrowErrno(env, errno, "socket", "SOCK_DGRAM");
  SetIntOpt(env, fd.fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
  // An IPv6 socket hears IPv6 only: bound to "::" it would otherwise take IPv4 datagrams to its
  // port too (as ::ffff:a.b.c.d), which no IPv6 service asked for.
  if (ss.ss_family == AF_INET6) SetIntOpt(env, fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
  bool txTimestamps = opts.Get("txTimestamps").ToBoolean();
  if (txTimestamps) {
#ifdef SCM_TS_OPT_ID
    bool supported = KernelAtLeast(6, 13);
#else
    bool supported = false;
#endif
    if (!supported) ThrowErrno(env, EOPNOTSUPP, "setsockopt", "SO_TIMESTAMPING: txTimestamps needs Linux >= 6.13 (SCM_TS_OPT_ID)");
    SetIntOpt(env, fd.fd, SOL_SOCKET, SO_TIMESTAMPING, kTxTimestampFlags, "SO_TIMESTAMPING");
  }
  if (opts.Get("reuseAddress").ToBoolean()) SetIntOpt(env, fd.fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  std::string ifname = OptString(opts, "ifname");
  if (!ifname.empty() &&
      setsockopt(fd.fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size())) < 0) {
    ThrowErrno(env, errno, "setsockopt", "SO_BINDTODEVICE");
  }
  SetMark(env, fd.fd, opts);
  if (bind(fd.fd, reinterpret_cast<struct sockaddr*>(&ss), sslen) < 0) ThrowErrno(env, errno, "bind", address);
  struct sockaddr_storage local;
  socklen_t locallen = sizeof local;
  if (getsockname(fd.fd, reinterpret_cast<struct sockaddr*>(&local), &locallen) < 0) {
    ThrowErrno(env, errno, "getsockname");
  }
  uint16_t localPort = local.ss_family == AF_INET
                           ? ntohs(reinterpret_cast<struct sockaddr_in*>(&local)->sin_port)
                           : ntohs(reinterpret_cast<struct sockaddr_in6*>(&local)->sin6_port);
  Napi::Object result = Napi::Object::New(env);
  result.Set("socket", Socket::Wrap(env, fd.release(), Kind::kUdp, txTimestamps));
  result.Set("address", address);
  result.Set("port", Napi::Number::New(env, localPort));
  return result;
}

// openNetlinkRoute({ groups, netnsPath?, extendedAck }) → { socket, portId }.
static Napi::Value OpenNetlinkRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "openNetlinkRoute(options)");
  Napi::Object opts = info[0].As<Napi::Object>();
  std::vector<uint32_t> groups;
  if (opts.Get("groups").IsArray()) {
    Napi::Array arr = opts.Get("groups").As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value g = arr.Get(i);
      if (!g.IsNumber()) ThrowErrno(env, EINVAL, "setsockopt", "group must be a number");
      int64_t v = g.As<Napi::Number>().Int64Value();
      if (v <= 0 || v > 1024) ThrowErrno(env, EINVAL, "setsockopt", "group out of range");
      groups.push_back(static_cast<uint32_t>(v));
    }
  }
  bool extendedAck = !opts.Get("extendedAck").IsBoolean() || opts.Get("extendedAck").As<Napi::Boolean>().Value();

  NetnsGuard netns(env, OptString(opts, "netnsPath"));
  FdOwner fd(socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd.fd < 0) ThrowErrno(env, errno, "socket", "NETLINK_ROUTE");
  int rcvbuf = kNetlinkRcvbufBytes;
  if (setsockopt(fd.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    SetIntOpt(env, fd.fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
  }
  if (extendedAck) SetIntOpt(env, fd.fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
  // Keep the request in error replies: the caller wants to see which request failed.
  SetIntOpt(env, fd.fd, SOL_NETLINK, NETLINK_CAP_ACK, 0, "NETLINK_CAP_ACK");
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd.fd, reinterpret_cast<struct sockaddr*>(&local), sizeof local) < 0) ThrowErrno(env, errno, "bind", "netlink");
  for (uint32_t g : groups) {
    SetIntOpt(env, fd.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, static_cast<int>(g), "NETLINK_ADD_MEMBERSHIP");
  }
  socklen_t len = sizeof local;
  if (getsockname(fd.fd, reinterpret_cast<struct sockaddr*>(&local), &len) < 0) ThrowErrno(env, errno, "getsockname");
  Napi::Object result = Napi::Object::New(env);
  result.Set("socket", Socket::Wrap(env, fd.release(), Kind::kNetlink));
  result.Set("portId", Napi::Number::New(env, local.nl_pid));
  return result;
}

// sendUnixDatagram(path, bytes): one datagram to an AF_UNIX SOCK_DGRAM socket, the way sd_notify
// talks to systemd (Node's dgram has no AF_UNIX). A path starting with "@" is in the abstract
// namespace. Sent from this process, so systemd's default NotifyAccess=main accepts it.
Napi::Value SendUnixDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "sendUnixDatagram(path: string, bytes: Uint8Array)");
  }
  std::string target = info[0].As<Napi::String>().Utf8Value();
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (target.empty() || target.size() >= sizeof addr.sun_path) ThrowErrno(env, EINVAL, "sendto", "socket path must be 1-107 bytes");
  memcpy(addr.sun_path, target.data(), target.size());
  if (target[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + target.size());
  FdOwner fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.fd < 0) ThrowErrno(env, errno, "socket", "AF_UNIX");
  if (sendto(fd.fd, bytes.Data(), bytes.ByteLength(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&addr), len) < 0) {
    ThrowErrno(env, errno, "sendto", target);
  }
  return env.Undefined();
}

// peerCredentials(fd): SO_PEERCRED of a connected AF_UNIX socket — the pid, uid and gid of the
// process that connected, as the kernel recorded them at connect(2). The priv checks it on the
// connections of calves started outside it (packages/runtime/src/sandbox/external.ts).
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "peerCredentials(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) ThrowErrno(env, errno, "getsockopt", "SO_PEERCRED");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

void InitSockets(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Socket::Define(env);
  GetAddonData(env)->socketConstructor = Napi::Persistent(ctor);
  exports.Set("openPacket", Napi::Function::New(env, OpenPacket, "openPacket"));
  exports.Set("openUdp", Napi::Function::New(env, OpenUdp, "openUdp"));
  exports.Set("openNetlinkRoute", Napi::Function::New(env, OpenNetlinkRoute, "openNetlinkRoute"));
  exports.Set("sendUnixDatagram", Napi::Function::New(env, SendUnixDatagram, "sendUnixDatagram"));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials, "peerCredentials"));
}

}  // namespace paddock
