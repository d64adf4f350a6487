/**
 * The calf's seccomp allowlist, as the `linux.seccomp` object of an OCI runtime spec.
 *
 * Built from what a Node 20 calf was observed to do (`strace -f -c` of a calf that opens its two
 * channels, writes logs, runs timers, takes random bytes, starts worker threads and exits), plus
 * what runc's Go init does between loading the filter and execve(). Everything else fails with
 * EPERM. See docs/security-model.md for the reasoning per group and the tests that prove it.
 *
 * Why ERRNO(EPERM) by default and not KILL_PROCESS: Node and libuv probe optional syscalls
 * (io_uring, pkeys, statx, clone3) and fall back when they fail; a newer Node probing something
 * new must degrade, not crash-loop under the supervisor. A denied call is still denied, the calf
 * sees a clean error it can report, and a compromised calf gains nothing from the difference.
 */

import { QUICKJS_EXTRA_SYSCALLS, type CalfEngine } from "./engine.ts";

/** One argument comparison of a seccomp rule (OCI runtime spec, `LinuxSeccompArg`). */
export interface SeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: "SCMP_CMP_EQ" | "SCMP_CMP_MASKED_EQ";
}

/** One rule of a seccomp profile (OCI runtime spec, `LinuxSyscall`). */
export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  readonly errnoRet?: number;
  readonly args?: readonly SeccompArg[];
}

/** The `linux.seccomp` object of an OCI runtime spec. */
export interface SeccompProfile {
  readonly defaultAction: "SCMP_ACT_ERRNO";
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: readonly SeccompRule[];
}

const EPERM = 1;
/** ENOSYS makes glibc and libuv take their fallback path as if the kernel lacked the call. */
const ENOSYS = 38;

// <linux/sched.h>
const CLONE_THREAD = 0x0001_0000;
const CLONE_NEWTIME = 0x0000_0080;
const CLONE_NEWNS = 0x0002_0000;
const CLONE_NEWCGROUP = 0x0200_0000;
const CLONE_NEWUTS = 0x0400_0000;
const CLONE_NEWIPC = 0x0800_0000;
const CLONE_NEWUSER = 0x1000_0000;
const CLONE_NEWPID = 0x2000_0000;
const CLONE_NEWNET = 0x4000_0000;
const CLONE_NAMESPACE_FLAGS =
  CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

// <asm-generic/ioctls.h>: the same numbers on x86_64 and aarch64.
const TCGETS = 0x5401;
const TIOCGWINSZ = 0x5413;
const FIONREAD = 0x541b;
const FIONBIO = 0x5421;
const FIONCLEX = 0x5450;
const FIOCLEX = 0x5451;

/**
 * The allowed syscalls, grouped by why a calf needs them. Names unknown on an architecture are
 * ignored by runc/libseccomp, so legacy x86_64 names (open, stat, poll) cost nothing on aarch64.
 */
export const CALF_SYSCALL_GROUPS: Readonly<Record<string, readonly string[]>> = {
  /** runc's init execs the Node binary after loading the filter; threads and exit. */
  process: [
    "execve", "exit", "exit_group", "set_tid_address", "set_robust_list", "get_robust_list",
    "rseq", "arch_prctl", "gettid", "getpid", "getppid", "tgkill", "restart_syscall",
  ],
  /**
   * V8's heap (pkeys when the CPU has them) and glibc's allocator. mmap, mprotect and
   * pkey_mprotect are not here: they are allowed only without making memory executable (W^X,
   * calfWxRules below).
   */
  memory: ["munmap", "madvise", "mremap", "brk", "mincore", "membarrier", "pkey_alloc", "pkey_free"],
  /** Node's signal handling (SIGTERM for clean shutdown, V8's SIGSEGV/SIGPROF handlers). */
  signals: ["rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack"],
  /** Thread synchronisation and sleeping: V8 platform workers, libuv's thread pool. */
  scheduling: [
    "futex", "futex_waitv", "sched_yield", "sched_getaffinity", "sched_getparam",
    "sched_getscheduler", "nanosleep", "clock_nanosleep",
  ],
  /** Clocks (mostly served by the vDSO; these are the fallbacks). */
  time: ["clock_gettime", "clock_getres", "gettimeofday", "time"],
  /** libuv's event loop: epoll, its wake-up eventfd and signal pipe. */
  eventLoop: [
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd2", "pipe2", "poll", "ppoll",
  ],
  /**
   * I/O on descriptors the calf already holds (stdio, fd 3, fd 4). `shutdown` ends a channel;
   * `getsockname`/`getsockopt` are how libuv learns that fd 3 is a Unix stream socket. No call
   * here can create a socket or address a peer; sendmsg/recvmsg (fd passing) are not here.
   */
  descriptors: [
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "close_range", "dup",
    "dup2", "dup3", "fcntl", "lseek", "shutdown", "getsockname", "getpeername", "getsockopt",
  ],
  /**
   * Files: the root is read-only and holds only Node, its libraries and the calf's script;
   * /tmp is a small noexec tmpfs. So reads are harmless and writes can only reach /tmp.
   */
  files: [
    "open", "openat", "stat", "lstat", "fstat", "newfstatat", "statx", "statfs", "fstatfs",
    "readlink", "readlinkat", "access", "faccessat", "faccessat2", "getcwd", "getdents64",
    "mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "ftruncate",
    "fsync", "fdatasync", "umask", "fadvise64",
  ],
  /** Facts about itself Node reads at start (uid for os.userInfo, caps, memory, limits). */
  introspection: [
    "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "capget",
    "uname", "sysinfo", "getrlimit", "prlimit64", "getrusage", "times", "getpriority",
    "getrandom",
  ],
};

/**
 * The calf's seccomp profile for the architecture Node runs on.
 *
 * Besides the plain allowlist: `clone` only for threads (CLONE_THREAD set, no namespace flag), so
 * a calf cannot fork, spawn or create namespaces; `clone3` (whose flags live in memory a filter
 * cannot read) and io_uring (which would bypass this filter entirely) fail with ENOSYS so glibc
 * falls back to `clone` and libuv to epoll and its thread pool; `ioctl` only for the requests
 * Node issues on its own descriptors (non-blocking mode, close-on-exec, "is this a terminal").
 * A QuickJS calf (`engine`) also gets QUICKJS_EXTRA_SYSCALLS (select, for its event loop).
 */
export function calfSeccompProfile(arch: string = process.arch, engine: CalfEngine = "node"): SeccompProfile {
  const allow = [...Object.values(CALF_SYSCALL_GROUPS).flat(), ...(engine === "quickjs" ? QUICKJS_EXTRA_SYSCALLS : [])];
  const ioctls = [TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX];
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: seccompArchitectures(arch),
    syscalls: [
      { names: allow, action: "SCMP_ACT_ALLOW" },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        // libseccomp's MASKED_EQ: (arg & value) === valueTwo.
        args: [{ index: 0, value: CLONE_THREAD | CLONE_NAMESPACE_FLAGS, valueTwo: CLONE_THREAD, op: "SCMP_CMP_MASKED_EQ" }],
      },
      ...ioctls.map((request): SeccompRule => ({
        names: ["ioctl"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 1, value: request, op: "SCMP_CMP_EQ" }],
      })),
      ...calfWxRules(),
      { names: ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    ],
  };
}

// <asm-generic/mman-common.h>: the same bits on x86_64 and aarch64.
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_ANONYMOUS = 0x20;

/**
 * W^X (issue 12): a calf never gets memory it can both write and execute, nor make memory
 * executable later, so code an exploit writes into memory cannot run (and Node cannot be
 * re-started without --jitless: V8's JIT needs exactly that). What stays allowed:
 * - mmap without PROT_EXEC (heaps, stacks, V8's interpreter);
 * - mmap of a file with PROT_EXEC and without PROT_WRITE: how ld.so maps the code of Node and its
 *   libraries at start (the only executable files a calf has are those read-only bind mounts;
 *   /tmp, /dev and the script are noexec, and memfd_create is refused);
 * - mprotect and pkey_mprotect without PROT_EXEC (RELRO, guard pages, V8's heap protection).
 * Everything else — anonymous PROT_EXEC, writable PROT_EXEC, mprotect to PROT_EXEC — gets EPERM
 * (the profile's default). test/calf-wx.test.ts runs a probe under this profile with runc.
 */
export function calfWxRules(): SeccompRule[] {
  const noExec: SeccompArg = { index: 2, value: PROT_EXEC, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" };
  return [
    { names: ["mmap", "mprotect", "pkey_mprotect"], action: "SCMP_ACT_ALLOW", args: [noExec] },
    {
      names: ["mmap"],
      action: "SCMP_ACT_ALLOW",
      args: [
        { index: 2, value: PROT_EXEC | PROT_WRITE, valueTwo: PROT_EXEC, op: "SCMP_CMP_MASKED_EQ" },
        { index: 3, value: MAP_ANONYMOUS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" },
      ],
    },
  ];
}

/**
 * Syscalls a calf must never get, whatever the allowlist grows into: a test checks that none of
 * them is allowed (network, kernel extension points, other processes, namespaces, mounts, keys).
 */
export const CALF_FORBIDDEN_SYSCALLS: readonly string[] = [
  "socket", "socketpair", "bind", "connect", "listen", "accept", "accept4", "setsockopt",
  "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg",
  "bpf", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
  "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "keyctl", "add_key", "request_key",
  "unshare", "setns", "kexec_load", "kexec_file_load", "init_module", "finit_module",
  "delete_module", "perf_event_open", "userfaultfd", "fork", "vfork", "kill", "setuid",
  "setgid", "setgroups", "setresuid", "setresgid", "prctl", "seccomp", "personality",
  "syslog", "reboot", "swapon", "swapoff", "sethostname", "setdomainname", "settimeofday",
  "clock_settime", "adjtimex", "clock_adjtime", "acct", "quotactl", "memfd_create",
  "name_to_handle_at", "open_by_handle_at", "mknod", "mknodat", "chmod", "fchmod", "fchmodat",
  "chown", "fchown", "lchown", "fchownat", "link", "linkat", "symlink", "symlinkat",
  "io_uring_setup", "clone3", "pidfd_open", "pidfd_getfd", "ioperm", "iopl",
];

function seccompArchitectures(arch: string): string[] {
  switch (arch) {
    case "x64":
      // Only the native ABI: i386 (int 0x80) and x32 syscalls are rejected by libseccomp's
      // architecture check before any rule is looked at.
      return ["SCMP_ARCH_X86_64"];
    case "arm64":
      return ["SCMP_ARCH_AARCH64"];
    default:
      return [`SCMP_ARCH_${arch.toUpperCase()}`];
  }
}
