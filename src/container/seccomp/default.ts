// paranoid's default seccomp profile: Docker's default in effect, with ptrace gated on CAP_SYS_PTRACE.
//
// Everything not listed fails with EPERM. Ordinary system calls are allowed; those that reach
// past the container (kernel modules, keyrings, kexec, bpf, perf, userfaultfd, clock setting,
// swap, accounting, reboot, raw I/O ports, quotas, ...) are refused unless the capability
// that the kernel itself would demand is in the container's set. Namespace and mount calls
// are gated on CAP_SYS_ADMIN: clone and unshare are allowed without it only when their flags
// ask for no new namespace (checked with a mask on the flags argument, as Docker does for
// clone), and clone3, whose flags live in memory a filter cannot read, fails with ENOSYS so
// that the C library falls back to clone.
//
// Differences from Docker's profile, on purpose: ptrace and process_vm_readv/writev need
// CAP_SYS_PTRACE on every kernel (Docker allows them from Linux 4.8); unshare without
// namespace flags (CLONE_FS, CLONE_FILES, CLONE_SYSVSEM) is allowed without CAP_SYS_ADMIN;
// pivot_root is allowed with CAP_SYS_ADMIN; system calls newer than Docker's list that only
// act on the caller's own files or memory are allowed. adjtimex and clock_adjtime stay
// allowed for reading the clock: whether they set it is in memory the filter cannot see, and
// the kernel refuses setting without CAP_SYS_TIME in the initial user namespace anyway.

import type { SeccompArch, SeccompProfile, SeccompSyscall } from "./profile.ts";
import { compileProfile } from "./profile.ts";

const ENOSYS = 38;

/** clone/unshare flags that create a namespace (linux/sched.h), except CLONE_NEWTIME. */
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
/** CLONE_NEWTIME shares its bit with the exit signal of clone, so it is checked for unshare only. */
const CLONE_NEWTIME = 0x00000080;

/** The namespace flags checked on clone's first argument. */
export const CLONE_NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
  CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

/** The namespace flags checked on unshare's first argument. */
export const UNSHARE_NAMESPACE_FLAGS = CLONE_NAMESPACE_FLAGS | CLONE_NEWTIME;

/** personality(2) values a container may set: PER_LINUX, PER_LINUX32, with UNAME26, and the query 0xffffffff. */
const SAFE_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

const ALLOWED: string[] = [
  // files and directories
  "access",
  "chdir",
  "chmod",
  "chown",
  "close",
  "close_range",
  "copy_file_range",
  "creat",
  "dup",
  "dup2",
  "dup3",
  "faccessat",
  "faccessat2",
  "fadvise64",
  "fallocate",
  "fchdir",
  "fchmod",
  "fchmodat",
  "fchmodat2",
  "fchown",
  "fchownat",
  "fcntl",
  "fdatasync",
  "file_getattr",
  "file_setattr",
  "flock",
  "fstat",
  "fstatfs",
  "fsync",
  "ftruncate",
  "futimesat",
  "getcwd",
  "getdents",
  "getdents64",
  "lchown",
  "link",
  "linkat",
  "lseek",
  "lstat",
  "mkdir",
  "mkdirat",
  "mknod",
  "mknodat",
  "newfstatat",
  "open",
  "openat",
  "openat2",
  "pipe",
  "pipe2",
  "pread64",
  "preadv",
  "preadv2",
  "pwrite64",
  "pwritev",
  "pwritev2",
  "read",
  "readahead",
  "readlink",
  "readlinkat",
  "readv",
  "rename",
  "renameat",
  "renameat2",
  "rmdir",
  "sendfile",
  "splice",
  "stat",
  "statfs",
  "statx",
  "symlink",
  "symlinkat",
  "sync",
  "sync_file_range",
  "syncfs",
  "tee",
  "truncate",
  "umask",
  "unlink",
  "unlinkat",
  "utime",
  "utimensat",
  "utimes",
  "vmsplice",
  "write",
  "writev",
  "cachestat",
  // extended attributes
  "fgetxattr",
  "flistxattr",
  "fremovexattr",
  "fsetxattr",
  "getxattr",
  "getxattrat",
  "lgetxattr",
  "listxattr",
  "listxattrat",
  "llistxattr",
  "lremovexattr",
  "lsetxattr",
  "removexattr",
  "removexattrat",
  "setxattr",
  "setxattrat",
  // waiting for events
  "epoll_create",
  "epoll_create1",
  "epoll_ctl",
  "epoll_ctl_old",
  "epoll_pwait",
  "epoll_pwait2",
  "epoll_wait",
  "epoll_wait_old",
  "eventfd",
  "eventfd2",
  "fanotify_mark",
  "inotify_add_watch",
  "inotify_init",
  "inotify_init1",
  "inotify_rm_watch",
  "pause",
  "poll",
  "ppoll",
  "pselect6",
  "select",
  "signalfd",
  "signalfd4",
  "timerfd_create",
  "timerfd_gettime",
  "timerfd_settime",
  // asynchronous I/O
  "io_cancel",
  "io_destroy",
  "io_getevents",
  "io_pgetevents",
  "io_setup",
  "io_submit",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "ioctl",
  "ioprio_get",
  "ioprio_set",
  // memory
  "brk",
  "madvise",
  "map_shadow_stack",
  "membarrier",
  "memfd_create",
  "memfd_secret",
  "mincore",
  "mlock",
  "mlock2",
  "mlockall",
  "mmap",
  "mprotect",
  "mremap",
  "mseal",
  "msync",
  "munlock",
  "munlockall",
  "munmap",
  "pkey_alloc",
  "pkey_free",
  "pkey_mprotect",
  "remap_file_pages",
  // processes, threads and signals
  "execve",
  "execveat",
  "exit",
  "exit_group",
  "fork",
  "futex",
  "futex_requeue",
  "futex_wait",
  "futex_waitv",
  "futex_wake",
  "get_robust_list",
  "get_thread_area",
  "getcpu",
  "getpgid",
  "getpgrp",
  "getpid",
  "getppid",
  "getpriority",
  "getrlimit",
  "getrusage",
  "getsid",
  "gettid",
  "kill",
  "pidfd_open",
  "pidfd_send_signal",
  "prctl",
  "prlimit64",
  "process_mrelease",
  "restart_syscall",
  "rseq",
  "rt_sigaction",
  "rt_sigpending",
  "rt_sigprocmask",
  "rt_sigqueueinfo",
  "rt_sigreturn",
  "rt_sigsuspend",
  "rt_sigtimedwait",
  "rt_tgsigqueueinfo",
  "sched_get_priority_max",
  "sched_get_priority_min",
  "sched_getaffinity",
  "sched_getattr",
  "sched_getparam",
  "sched_getscheduler",
  "sched_rr_get_interval",
  "sched_setaffinity",
  "sched_setattr",
  "sched_setparam",
  "sched_setscheduler",
  "sched_yield",
  "seccomp",
  "set_robust_list",
  "set_thread_area",
  "set_tid_address",
  "setpgid",
  "setpriority",
  "setrlimit",
  "setsid",
  "sigaltstack",
  "tgkill",
  "tkill",
  "vfork",
  "wait4",
  "waitid",
  // credentials (the kernel checks CAP_SETUID/CAP_SETGID)
  "capget",
  "capset",
  "getegid",
  "geteuid",
  "getgid",
  "getgroups",
  "getresgid",
  "getresuid",
  "getuid",
  "setfsgid",
  "setfsuid",
  "setgid",
  "setgroups",
  "setregid",
  "setresgid",
  "setresuid",
  "setreuid",
  "setuid",
  "landlock_add_rule",
  "landlock_create_ruleset",
  "landlock_restrict_self",
  "lsm_get_self_attr",
  "lsm_list_modules",
  // time (reading, sleeping, timers)
  "adjtimex",
  "alarm",
  "clock_adjtime",
  "clock_getres",
  "clock_gettime",
  "clock_nanosleep",
  "getitimer",
  "gettimeofday",
  "nanosleep",
  "setitimer",
  "time",
  "timer_create",
  "timer_delete",
  "timer_getoverrun",
  "timer_gettime",
  "timer_settime",
  "times",
  // sockets (socket itself is checked below)
  "accept",
  "accept4",
  "bind",
  "connect",
  "getpeername",
  "getsockname",
  "getsockopt",
  "listen",
  "recvfrom",
  "recvmmsg",
  "recvmsg",
  "sendmmsg",
  "sendmsg",
  "sendto",
  "setsockopt",
  "shutdown",
  "socketpair",
  // System V and POSIX IPC
  "mq_getsetattr",
  "mq_notify",
  "mq_open",
  "mq_timedreceive",
  "mq_timedsend",
  "mq_unlink",
  "msgctl",
  "msgget",
  "msgrcv",
  "msgsnd",
  "semctl",
  "semget",
  "semop",
  "semtimedop",
  "shmat",
  "shmctl",
  "shmdt",
  "shmget",
  // system information
  "getrandom",
  "sysinfo",
  "uname",
  // handles (opening by handle is gated below)
  "name_to_handle_at",
];

const allowWith = (caps: string[], names: string[]): SeccompSyscall => ({
  names,
  action: "SCMP_ACT_ALLOW",
  includes: { caps },
});

const SYSCALLS: SeccompSyscall[] = [
  { names: ALLOWED, action: "SCMP_ACT_ALLOW" },
  {
    names: ["socket"],
    action: "SCMP_ACT_ALLOW",
    comment: "every address family but AF_VSOCK (40), which reaches the host",
    args: [{ index: 0, value: 40, op: "SCMP_CMP_NE" }],
  },
  ...SAFE_PERSONALITIES.map((value): SeccompSyscall => ({
    names: ["personality"],
    action: "SCMP_ACT_ALLOW",
    args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
  })),
  {
    names: ["arch_prctl", "modify_ldt"],
    action: "SCMP_ACT_ALLOW",
    includes: { arches: ["amd64"] },
  },
  {
    names: ["clone"],
    action: "SCMP_ACT_ALLOW",
    comment: "clone without namespace flags (fork, threads)",
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  {
    names: ["unshare"],
    action: "SCMP_ACT_ALLOW",
    comment: "unshare without namespace flags (CLONE_FS, CLONE_FILES, CLONE_SYSVSEM)",
    args: [{ index: 0, value: UNSHARE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  {
    names: ["clone3"],
    action: "SCMP_ACT_ERRNO",
    errnoRet: ENOSYS,
    comment: "flags are in memory: make the C library fall back to clone",
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  allowWith(["CAP_SYS_ADMIN"], [
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "listmount",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "perf_event_open",
    "pivot_root",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "statmount",
    "syslog",
    "umount2",
    "unshare",
  ]),
  allowWith(["CAP_DAC_READ_SEARCH"], ["open_by_handle_at"]),
  allowWith(["CAP_SYS_BOOT"], ["reboot"]),
  allowWith(["CAP_SYS_CHROOT"], ["chroot"]),
  allowWith(["CAP_SYS_MODULE"], ["delete_module", "init_module", "finit_module"]),
  allowWith(["CAP_SYS_PACCT"], ["acct"]),
  allowWith(["CAP_SYS_PTRACE"], [
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
  ]),
  allowWith(["CAP_SYS_RAWIO"], ["iopl", "ioperm"]),
  allowWith(["CAP_SYS_TIME"], ["settimeofday", "clock_settime"]),
  allowWith(["CAP_SYS_TTY_CONFIG"], ["vhangup"]),
  allowWith(["CAP_SYS_NICE"], [
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
  ]),
  allowWith(["CAP_SYSLOG"], ["syslog"]),
  allowWith(["CAP_BPF"], ["bpf"]),
  allowWith(["CAP_PERFMON"], ["perf_event_open"]),
];

/**
 * paranoid's default seccomp profile. Refused (EPERM) whatever the capabilities include:
 * kexec_load, kexec_file_load, keyctl, add_key, request_key, userfaultfd, swapon, swapoff,
 * nfsservctl, uselib, ustat, sysfs, _sysctl, vm86, create_module, get_kernel_syms,
 * query_module, lsm_set_self_attr and every other system call not listed.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROFILE } from "./default.ts";
 * DEFAULT_PROFILE.defaultAction; // "SCMP_ACT_ERRNO"
 * ```
 */
export const DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: [] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: [] },
  ],
  syscalls: SYSCALLS,
};

/**
 * The architecture paranoid runs on, as a seccomp target.
 *
 * @example
 * ```ts
 * import { hostArch } from "./default.ts";
 * ["x86_64", "aarch64"].includes(hostArch()); // true
 * ```
 */
export function hostArch(): SeccompArch {
  return Deno.build.arch;
}

/**
 * Compiles the default profile for a container with the capability set `capabilities`
 * (see `resolveCapabilities` in ../caps.ts), for `arch` (default: this machine's).
 *
 * @returns The bytes of a `struct sock_filter[]`, for `struct sock_fprog`.
 * @example
 * ```ts
 * import { compileDefaultProfile } from "./default.ts";
 * import { DOCKER_DEFAULT_CAPABILITY_MASK } from "../caps.ts";
 * const program = compileDefaultProfile(DOCKER_DEFAULT_CAPABILITY_MASK);
 * program.length / 8 < 4096; // true
 * ```
 */
export function compileDefaultProfile(
  capabilities: bigint,
  arch: SeccompArch = hostArch(),
): Uint8Array {
  return compileProfile(DEFAULT_PROFILE, { arch, capabilities });
}
