/**
 * The priv's own seccomp filter: a deny list. The priv (and what it starts: runc, the calves'
 * runc init, the administrator's hooks) may make any system call except those below, which get
 * EPERM. Why a deny list and not the calf's allowlist (decision 0009): the priv is Node plus
 * glibc plus runc plus whatever a hook runs, and a libc or Node update that starts using a new
 * call must not take the network down — the failure that makes distributions turn off dhcpcd's
 * and chrony's filters. A call the kernel does not know still gets ENOSYS from the kernel.
 *
 * Pure: builds the classic BPF program (struct sock_filter[] bytes) for native installSeccomp().
 */
import { assemble, bpf, type Insn } from "@paddock/native";
import { PrivSandboxError } from "./errors.ts";

/** The system calls the priv never makes, by what they are (none is needed by runc either). */
export const PRIV_DENIED_SYSCALLS = {
  /** Reading or writing another process's memory. */
  otherProcesses: ["ptrace", "process_vm_readv", "process_vm_writev"],
  /** Replacing the kernel, loading or removing modules. */
  kernel: ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"],
  /** The kernel keyrings (runc is started with --no-new-keyring). */
  keys: ["keyctl", "add_key", "request_key"],
  /** Kernel interfaces with a history of exploits that the priv never uses. */
  exploitSurface: ["userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "perf_event_open", "open_by_handle_at"],
  /** The whole machine: swap, reboot, process accounting, the kernel log, quotas, raw I/O ports. */
  machine: ["swapon", "swapoff", "reboot", "acct", "syslog", "quotactl", "iopl", "ioperm"],
} as const;

/** Every denied name. */
export const PRIV_DENIED: readonly string[] = Object.values(PRIV_DENIED_SYSCALLS).flat();

/**
 * Denied as well when the calves start outside the priv (docs/decisions/0013-external-calves.md):
 * what only runc needed — mounts (old and new API), pivot_root, chroot, entering and leaving
 * namespaces. With no runc below it, a priv that calls one of these is not doing its job.
 */
export const RUNC_ONLY_SYSCALLS: readonly string[] = ["mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick"];

/** Numbers of the denied calls per architecture (asm/unistd_64.h; asm-generic/unistd.h for arm64). */
export const SYSCALL_NUMBERS: Readonly<Record<"x64" | "arm64", Readonly<Record<string, number>>>> = {
  x64: {
    ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, kexec_load: 246, kexec_file_load: 320,
    init_module: 175, finit_module: 313, delete_module: 176, keyctl: 250, add_key: 248, request_key: 249,
    userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, perf_event_open: 298,
    open_by_handle_at: 304, swapon: 167, swapoff: 168, reboot: 169, acct: 163, syslog: 103, quotactl: 179,
    iopl: 172, ioperm: 173,
    mount: 165, umount2: 166, pivot_root: 155, chroot: 161, unshare: 272, setns: 308,
    open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
  },
  arm64: {
    ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, kexec_load: 104, kexec_file_load: 294,
    init_module: 105, finit_module: 273, delete_module: 106, keyctl: 219, add_key: 217, request_key: 218,
    userfaultfd: 282, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, perf_event_open: 241,
    open_by_handle_at: 265, swapon: 224, swapoff: 225, reboot: 142, acct: 89, syslog: 116, quotactl: 60,
    // iopl and ioperm do not exist on arm64.
    mount: 40, umount2: 39, pivot_root: 41, chroot: 51, unshare: 97, setns: 268,
    open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433,
  },
};

/** The names the priv's filter refuses: PRIV_DENIED, and RUNC_ONLY_SYSCALLS when no runc runs below it. */
export function privDenied(opts: { readonly runsCalves?: boolean } = {}): readonly string[] {
  return opts.runsCalves === false ? [...PRIV_DENIED, ...RUNC_ONLY_SYSCALLS] : PRIV_DENIED;
}

/** AUDIT_ARCH_* (<linux/audit.h>): what seccomp_data.arch holds for the native ABI. */
export const AUDIT_ARCH: Readonly<Record<"x64" | "arm64", number>> = { x64: 0xc000003e, arm64: 0xc00000b7 };

/** x86-64's x32 ABI: its call numbers have this bit set, and would otherwise dodge the list. */
export const X32_SYSCALL_BIT = 0x4000_0000;

// <linux/seccomp.h>
export const SECCOMP_RET_ALLOW = 0x7fff_0000;
export const SECCOMP_RET_ERRNO = 0x0005_0000;
const EPERM = 1;
/** struct seccomp_data: int nr at 0, __u32 arch at 4 (native byte order). */
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;

/**
 * The filter for `arch`: a call from another ABI (i386 through int 0x80, x32) gets EPERM, since
 * its numbers mean other calls; a denied call gets EPERM; everything else is allowed.
 */
export function privSeccompProgram(arch: string = process.arch, opts: { readonly runsCalves?: boolean } = {}): Uint8Array {
  if (arch !== "x64" && arch !== "arm64") throw new PrivSandboxError(`the priv's seccomp filter knows x64 and arm64, not ${arch}: start with --no-sandbox on this machine`);
  const numbers = SYSCALL_NUMBERS[arch];
  const denied = [...new Set(privDenied(opts).flatMap((name) => (numbers[name] === undefined ? [] : [numbers[name]!])))].sort((a, b) => a - b);
  const insns: Insn[] = [
    bpf.ld("w", OFFSET_ARCH),
    bpf.jeq(AUDIT_ARCH[arch], "next", "deny"),
    bpf.ld("w", OFFSET_NR),
    ...(arch === "x64" ? [bpf.jge(X32_SYSCALL_BIT, "deny", "next")] : []),
    ...denied.map((nr) => bpf.jeq(nr, "deny", "next")),
    bpf.ret(SECCOMP_RET_ALLOW),
    bpf.label("deny"),
    bpf.ret(SECCOMP_RET_ERRNO | EPERM),
  ];
  const result = assemble(insns);
  if (!result.ok) throw new PrivSandboxError(`the priv's seccomp filter does not assemble: ${JSON.stringify(result.error)}`);
  return result.program.bytes;
}
