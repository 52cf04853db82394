// Integration: escape attempts from inside a container, each asserting what the container can observe.

import assert from "node:assert/strict";
import {
  eventually,
  MAIN,
  makeBusyboxRoot,
  paranoid,
  processesWith,
  removeRoot,
  type RunResult,
} from "./helpers.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";

/** Fails loudly when the host has no python3 in /usr (used through a read-only bind mount). */
function requirePython(): void {
  try {
    if (Deno.statSync(PYTHON).isFile) return;
  } catch {
    // fall through
  }
  throw new Error(`${PYTHON} is missing: install the Debian package python3`);
}

/** System call numbers used by the raw-syscall probes, per architecture. */
const SYSCALLS: Record<string, Record<string, number>> = {
  x86_64: {
    add_key: 248,
    request_key: 249,
    keyctl: 250,
    bpf: 321,
    perf_event_open: 298,
    kexec_load: 246,
    kexec_file_load: 320,
    init_module: 175,
    finit_module: 313,
    delete_module: 176,
    open_by_handle_at: 304,
    userfaultfd: 323,
    acct: 163,
    swapon: 167,
    reboot: 169,
    ptrace: 101,
  },
  aarch64: {
    add_key: 217,
    request_key: 218,
    keyctl: 219,
    bpf: 280,
    perf_event_open: 241,
    kexec_load: 104,
    kexec_file_load: 294,
    init_module: 105,
    finit_module: 273,
    delete_module: 106,
    open_by_handle_at: 265,
    userfaultfd: 282,
    acct: 89,
    swapon: 224,
    reboot: 142,
    ptrace: 117,
  },
};

function syscallTable(): Record<string, number> {
  const table = SYSCALLS[Deno.build.arch];
  if (table === undefined) throw new Error(`no syscall table for "${Deno.build.arch}"`);
  return table;
}

const EPERM = 1;
const ESRCH = 3;

/** A plain busybox root for the shell-only probes. */
const root = await makeBusyboxRoot();
/** A busybox root whose /lib and /lib64 lead into /usr, for the host's /usr mounted read-only. */
const pyRoot = await makeBusyboxRoot();
await Deno.symlink("usr/lib", `${pyRoot}/lib`);
await Deno.symlink("usr/lib64", `${pyRoot}/lib64`);
const R = `--root=${root}`;
const PY = [`--root=${pyRoot}`, "-v", "/usr:/usr:ro"];

/** Runs a shell script in the busybox root without a network. */
function sh(script: string, extra: readonly string[] = []): Promise<RunResult> {
  return paranoid([R, "-N", ...extra, "--", "/bin/sh", "-c", script]);
}

/** The prelude of every Python probe: libc through ctypes, `sc(name, *args)` -> [ret, errno]. */
const PY_PRELUDE = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = json.loads(sys.argv[1])
def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) for a in args])
    return [r, ctypes.get_errno()]
`;

/** Runs a Python probe in the container with the host's /usr; its last stdout line is JSON. */
async function python(
  code: string,
  extra: readonly string[] = [],
  args: readonly string[] = [],
): Promise<unknown> {
  requirePython();
  const r = await paranoid([
    ...PY,
    "-N",
    ...extra,
    "--",
    PYTHON,
    "-c",
    PY_PRELUDE + code,
    JSON.stringify(syscallTable()),
    ...args,
  ]);
  assert.equal(r.code, 0, `python probe failed: ${r.stderr}`);
  const last = r.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last);
}

/** A host directory with a secret file beside a subdirectory that gets bind-mounted. */
async function hostTree(): Promise<{ dir: string; secret: string; shared: string }> {
  const dir = await Deno.makeTempDir({ prefix: "paranoid-sec-" });
  await Deno.chmod(dir, 0o755);
  const secret = `${dir}/secret-${crypto.randomUUID()}.txt`;
  await Deno.writeTextFile(secret, "host secret\n");
  const shared = `${dir}/shared`;
  await Deno.mkdir(shared);
  await Deno.writeTextFile(`${shared}/inside.txt`, "shared\n");
  return { dir, secret, shared };
}

/** Asserts that the host tree is as hostTree left it, apart from what the container put in shared/. */
async function assertSecretIntact(tree: { dir: string; secret: string }): Promise<void> {
  assert.equal(await Deno.readTextFile(tree.secret), "host secret\n");
  const names = [];
  for await (const e of Deno.readDir(tree.dir)) names.push(e.name);
  assert.deepEqual(names.sort(), [tree.secret.slice(tree.dir.length + 1), "shared"].sort());
}

/** The capability sets of /proc/self/status as bigints. */
function parseCaps(status: string): Record<string, bigint> {
  const caps: Record<string, bigint> = {};
  for (const m of status.matchAll(/^Cap(Inh|Prm|Eff|Bnd|Amb):\s*([0-9a-f]+)$/gm)) {
    caps[m[1]!] = BigInt(`0x${m[2]}`);
  }
  assert.deepEqual(Object.keys(caps).sort(), ["Amb", "Bnd", "Eff", "Inh", "Prm"]);
  return caps;
}

/** Capability numbers (linux/capability.h). */
const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  MKNOD: 27,
  AUDIT_WRITE: 29,
  SETFCAP: 31,
  NET_ADMIN: 12,
} as const;

const bit = (n: number): bigint => 1n << BigInt(n);

/** Docker's default 14 capabilities. */
const DOCKER_DEFAULT = [
  CAP.CHOWN,
  CAP.DAC_OVERRIDE,
  CAP.FOWNER,
  CAP.FSETID,
  CAP.KILL,
  CAP.SETGID,
  CAP.SETUID,
  CAP.SETPCAP,
  CAP.NET_BIND_SERVICE,
  CAP.NET_RAW,
  CAP.SYS_CHROOT,
  CAP.MKNOD,
  CAP.AUDIT_WRITE,
  CAP.SETFCAP,
].reduce((a, c) => a | bit(c), 0n);

async function capsWith(extra: readonly string[]): Promise<Record<string, bigint>> {
  const r = await sh("cat /proc/self/status", extra);
  assert.equal(r.code, 0, r.stderr);
  return parseCaps(r.stdout);
}

// ---------------------------------------------------------------------------------------------
// The host's files

Deno.test("security: a host file beside a bind mount is unreachable by ../, symlinks or its host path", async () => {
  const tree = await hostTree();
  try {
    const name = tree.secret.slice(tree.dir.length + 1);
    const script = [
      `cat /mnt/shared/inside.txt`,
      `cat /mnt/shared/../${name} 2>/dev/null && echo LEAK-dotdot`,
      `cat /mnt/shared/../../${name} 2>/dev/null && echo LEAK-dotdot2`,
      `cat ${tree.secret} 2>/dev/null && echo LEAK-hostpath`,
      `ls ${tree.dir} 2>/dev/null && echo LEAK-hostdir`,
      `ln -s ../${name} /mnt/shared/escape; cat /mnt/shared/escape 2>/dev/null && echo LEAK-symlink`,
      `echo pwned > /mnt/shared/../${name}`,
      `find / -path /proc -prune -o -path /sys -prune -o -name '${name}' -print`,
      `echo done`,
    ].join("; ");
    const r = await sh(script, ["-v", `${tree.shared}:/mnt/shared`]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /LEAK|host secret/);
    // The write through ../ landed in the container's own /mnt, which the find then sees.
    assert.deepEqual(r.stdout.trim().split("\n"), ["shared", `/mnt/${name}`, "done"]);
    await assertSecretIntact(tree);
    // The symlink the container made is in the shared directory, as a plain link.
    assert.equal(await Deno.readLink(`${tree.shared}/escape`), `../${name}`);
  } finally {
    await removeRoot(tree.dir);
    await Deno.remove(`${root}/mnt`, { recursive: true }).catch(() => {});
  }
});

Deno.test("security: the root's own symbolic links cannot send a mount or a volume onto the host", async () => {
  const tree = await hostTree();
  // Both point at the host directory: one absolutely, one by climbing above the root.
  const links = { abs: `${root}/abs-link`, up: `${root}/up-link` };
  await Deno.symlink(tree.dir, links.abs);
  await Deno.symlink(`${"../".repeat(12)}${tree.dir.slice(1)}`, links.up);
  try {
    const r = await sh(
      `echo one > /abs-link/t1/f && echo two > /up-link/t2/f && cat /abs-link/v/inside.txt && ` +
        `grep -c '^tmpfs ${tree.dir}/t[12] tmpfs' /proc/mounts`,
      ["--tmpfs", "/abs-link/t1", "--tmpfs", "/up-link/t2", "-v", `${tree.shared}:/abs-link/v`],
    );
    assert.equal(r.code, 0, r.stderr);
    // Inside, both links lead to the same place in the container's root, where the mounts are.
    assert.deepEqual(r.stdout.trim().split("\n"), ["shared", "2"]);
    await assertSecretIntact(tree);
    assert.deepEqual([...Deno.readDirSync(tree.shared)].map((e) => e.name), ["inside.txt"]);
  } finally {
    await removeRoot(tree.dir);
    for (const l of Object.values(links)) await Deno.remove(l);
    await Deno.remove(`${root}/${tree.dir.split("/")[1]}`, { recursive: true }).catch(() => {});
  }
});

Deno.test("security: /proc/1/root is the container's own root and its cwd is /", async () => {
  const marker = `marker-${crypto.randomUUID()}`;
  await Deno.writeTextFile(`${root}/${marker}`, "");
  try {
    const r = await sh(
      "ls -a /proc/1/root | sort | tr '\\n' ' '; echo; ls -a / | sort | tr '\\n' ' '; echo; " +
        "readlink /proc/1/root; readlink /proc/1/cwd; readlink /proc/self/root; " +
        "stat -c %i / /proc/1/root/ /proc/1/root/.. /proc/1/root/../..",
    );
    assert.equal(r.code, 0, r.stderr);
    const [viaProc, direct, l1, l2, l3, ...inodes] = r.stdout.trim().split("\n");
    assert.equal(viaProc, direct);
    assert.ok(direct!.split(" ").includes(marker), direct);
    assert.deepEqual([l1, l2, l3], ["/", "/", "/"]);
    assert.equal(new Set(inodes).size, 1, `.. of the root leaves it: ${inodes.join(" ")}`);
  } finally {
    await Deno.remove(`${root}/${marker}`);
  }
});

Deno.test("security: INIT inherits only stdin, stdout and stderr from the host side", async () => {
  // No pipeline (the shell, pid 1, would hold the pipe while it sets it up), and a second command
  // so that the shell forks ls instead of becoming it.
  const r = await sh("ls /proc/1/fd; true");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split(/\s+/), ["0", "1", "2"]);
});

Deno.test("security: --privileged still cannot reach host files outside the mounts", async () => {
  const tree = await hostTree();
  try {
    const name = tree.secret.slice(tree.dir.length + 1);
    const script = [
      `cat /mnt/shared/../${name} 2>/dev/null && echo LEAK-dotdot`,
      `cat ${tree.secret} 2>/dev/null && echo LEAK-hostpath`,
      // With CAP_SYS_ADMIN in its own namespace it can mount, but only what it already sees.
      `mkdir -p /mnt/b && mount --bind /mnt/shared/.. /mnt/b && ls /mnt/b | grep -q secret && echo LEAK-bind`,
      `mount -t proc proc /mnt/b 2>/dev/null; ls /mnt/b/1/root/ | grep -q secret && echo LEAK-proc`,
      `echo done`,
    ].join("; ");
    const r = await sh(script, ["--privileged", "-v", `${tree.shared}:/mnt/shared`]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /LEAK|host secret/);
    assert.equal(r.stdout.trim().split("\n").at(-1), "done");
    await assertSecretIntact(tree);
  } finally {
    await removeRoot(tree.dir);
    await Deno.remove(`${root}/mnt`, { recursive: true }).catch(() => {});
  }
});

Deno.test("security: open_by_handle_at cannot open a host file beside a bind mount, even privileged", async () => {
  requirePython();
  const tree = await hostTree();
  try {
    // The host makes the handle (name_to_handle_at needs no privilege); the container replays it.
    const host = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(8 + 128)
ctypes.c_uint.from_buffer(buf).value = 128
mid = ctypes.c_int()
r = libc.name_to_handle_at(-100, sys.argv[1].encode(), buf, ctypes.byref(mid), 0)
assert r == 0, ctypes.get_errno()
n = ctypes.c_uint.from_buffer(buf).value
print(buf.raw[:8 + n].hex())
`,
        tree.secret,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const td = new TextDecoder();
    assert.equal(host.code, 0, td.decode(host.stderr));
    const handle = td.decode(host.stdout).trim();
    const code = `
buf = ctypes.create_string_buffer(bytes.fromhex(sys.argv[2]))
fd = os.open("/mnt/shared", os.O_RDONLY | os.O_DIRECTORY)
ctypes.set_errno(0)
r = libc.syscall(ctypes.c_long(NR["open_by_handle_at"]), ctypes.c_long(fd), buf, ctypes.c_long(0))
e = ctypes.get_errno()
data = os.read(r, 100).decode() if r >= 0 else ""
print(json.dumps([r, e, data]))
`;
    const v = ["-v", `${tree.shared}:/mnt/shared:ro`];
    const confined = await python(code, v, [handle]) as [number, number, string];
    assert.deepEqual(confined, [-1, EPERM, ""]);
    const privileged = await python(code, ["--privileged", ...v], [handle]) as [
      number,
      number,
      string,
    ];
    assert.equal(privileged[0], -1, `opened the host file: ${JSON.stringify(privileged)}`);
    assert.equal(privileged[2], "");
  } finally {
    await removeRoot(tree.dir);
  }
});

// ---------------------------------------------------------------------------------------------
// Mounts, namespaces and dangerous system calls

Deno.test("security: mount and umount fail with EPERM without CAP_SYS_ADMIN", async () => {
  const code = `
os.makedirs("/tmp/m", exist_ok=True)
ctypes.set_errno(0)
m = libc.mount(b"none", b"/tmp/m", b"tmpfs", 0, None)
me = ctypes.get_errno()
ctypes.set_errno(0)
u = libc.umount2(b"/proc/acpi", 2)
ue = ctypes.get_errno()
ctypes.set_errno(0)
n = libc.mknod(b"/tmp/sda", 0o60600, os.makedev(8, 0))
ne = ctypes.get_errno()
print(json.dumps([[m, me], [u, ue], [n, ne]]))
`;
  assert.deepEqual(await python(code), [[-1, EPERM], [-1, EPERM], [-1, EPERM]]);
});

Deno.test("security: with --cap-add SYS_ADMIN the seccomp gate lets mount and umount through", async () => {
  const r = await sh(
    "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && grep -c ' /tmp/m tmpfs ' /proc/mounts && " +
      "umount /tmp/m && grep -c ' /tmp/m ' /proc/mounts; grep Seccomp: /proc/self/status",
    ["--cap-add", "SYS_ADMIN"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["1", "0", "Seccomp:\t2"]);
});

Deno.test("security: nested user namespaces are refused by default", async () => {
  const r = await sh("unshare -U true; echo rc=$?");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "rc=1");
  assert.match(r.stderr, /Operation not permitted/);
});

Deno.test("security: nested user namespaces are allowed with seccomp=unconfined or CAP_SYS_ADMIN", async () => {
  for (
    const extra of [["--security-opt", "seccomp=unconfined"], ["--cap-add", "SYS_ADMIN"]]
  ) {
    const r = await sh("unshare -U cat /proc/self/uid_map | wc -l; echo rc=$?", extra);
    assert.equal(r.code, 0, `${extra.join(" ")}: ${r.stderr}`);
    // A fresh user namespace has no map yet.
    assert.deepEqual(r.stdout.trim().split("\n"), ["0", "rc=0"], extra.join(" "));
  }
});

Deno.test("security: keyrings, bpf, perf, kexec, modules and friends are refused with EPERM", async () => {
  const code = `
probes = {
  "add_key": sc("add_key", 0, 0, 0, 0, -3),
  "request_key": sc("request_key", 0, 0, 0, -3),
  "keyctl": sc("keyctl", 0, -3, 0, 0, 0),
  "bpf": sc("bpf", 0, 0, 0),
  "perf_event_open": sc("perf_event_open", 0, 0, -1, -1, 0),
  "kexec_load": sc("kexec_load", 0, 0, 0, 0),
  "kexec_file_load": sc("kexec_file_load", -1, -1, 0, 0, 0),
  "init_module": sc("init_module", 0, 0, 0),
  "finit_module": sc("finit_module", -1, 0, 0),
  "delete_module": sc("delete_module", 0, 0),
  "open_by_handle_at": sc("open_by_handle_at", -1, 0, 0),
  "userfaultfd": sc("userfaultfd", 0),
  "acct": sc("acct", 0),
  "swapon": sc("swapon", 0, 0),
  "ptrace": sc("ptrace", 16, 1, 0, 0),
}
print(json.dumps(probes))
`;
  const probes = await python(code) as Record<string, [number, number]>;
  for (const [name, result] of Object.entries(probes)) {
    assert.deepEqual(result, [-1, EPERM], `${name} was not refused with EPERM`);
  }
  // The refusals come from the filter: unconfined, the kernel answers keyctl and reads perf's attr.
  const open = await python(code, ["--security-opt", "seccomp=unconfined"]) as Record<
    string,
    [number, number]
  >;
  assert.ok(open["keyctl"]![0] > 0, `keyctl unconfined: ${JSON.stringify(open["keyctl"])}`);
  assert.notEqual(open["perf_event_open"]![1], EPERM);
});

Deno.test("security: the filter and no_new_privs are on by default and off only with --privileged", async () => {
  const on = await sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status");
  assert.equal(on.code, 0, on.stderr);
  assert.deepEqual(on.stdout.trim().split("\n"), ["NoNewPrivs:\t1", "Seccomp:\t2"]);
  const off = await sh("grep -E '^Seccomp:' /proc/self/status", ["--privileged"]);
  assert.equal(off.code, 0, off.stderr);
  assert.equal(off.stdout.trim(), "Seccomp:\t0");
});

Deno.test({
  name:
    "security: 32-bit (int 0x80) and x32 system calls kill the caller instead of passing the filter",
  // The compat entry points are an x86_64 matter; aarch64's filter has no compat ABI to check.
  ignore: Deno.build.arch !== "x86_64",
  fn: async () => {
    requirePython();
    // push rbx; mov eax,edi; mov ebx,esi; mov r8d,ecx; mov ecx,edx; mov edx,r8d; int 0x80;
    // pop rbx; ret: a C function (nr, a, b, c) making an i386 system call.
    const code = `
import mmap
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(bytes.fromhex("5389f889f34189c889d14489c2cd805bc3"))
int80 = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)(
    ctypes.addressof(ctypes.c_char.from_buffer(m)))
if sys.argv[2] == "i386-getpid":
    r = [int80(20, 0, 0, 0), 0]
elif sys.argv[2] == "i386-unshare":
    r = [int80(310, 0x10000000, 0, 0), 0]
else:
    ctypes.set_errno(0)
    r = [libc.syscall(ctypes.c_long(0x40000000 | 39)), ctypes.get_errno()]
print(json.dumps(r), flush=True)
`;
    for (const probe of ["i386-getpid", "i386-unshare", "x32-getpid"]) {
      const r = await paranoid([
        ...PY,
        "-N",
        "--",
        PYTHON,
        "-c",
        PY_PRELUDE + code,
        JSON.stringify(syscallTable()),
        probe,
      ]);
      // 128 + SIGSYS: the filter's bad-architecture action killed the process.
      assert.equal(r.code, 128 + 31, `${probe}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, "");
    }
    // Unconfined, the i386 entry point works here, so the probe itself is sound.
    const open = await python(code, ["--security-opt", "seccomp=unconfined"], ["i386-getpid"]);
    assert.deepEqual(open, [1, 0]);
  },
});

Deno.test("security: the user's session keyring is not shared with the container", async () => {
  requirePython();
  // The test adds a key to its own session keyring, as a login session's secrets would be, starts
  // the container from that process, then revokes the key. runc and crun give every container a
  // fresh session keyring, so that even with keyctl allowed the user's keys stay out of reach.
  const host = `
import ctypes, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
nr_add_key, nr_keyctl, desc, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
kid = libc.syscall(ctypes.c_long(nr_add_key), b"user", desc.encode(), secret.encode(),
                   ctypes.c_long(len(secret)), ctypes.c_long(-3))
if kid < 0:
    sys.exit("add_key failed: errno %d" % ctypes.get_errno())
try:
    r = subprocess.run([a.replace("@KEYID@", str(kid)) for a in sys.argv[5:]])
finally:
    libc.syscall(ctypes.c_long(nr_keyctl), ctypes.c_long(3), ctypes.c_long(kid))  # KEYCTL_REVOKE
sys.exit(r.returncode)
`;
  const probe = `
def kc(*args):
    ctypes.set_errno(0)
    return [libc.syscall(ctypes.c_long(NR["keyctl"]), *args), ctypes.get_errno()]
found = kc(ctypes.c_long(10), ctypes.c_long(-3), b"user", sys.argv[2].encode(), ctypes.c_long(0))
buf = ctypes.create_string_buffer(200)
read = kc(ctypes.c_long(11), ctypes.c_long(int(sys.argv[3])), buf, ctypes.c_long(200))
print(json.dumps([found, read, buf.value.decode(errors="replace")]))
`;
  const table = syscallTable();
  for (const extra of [["--privileged"], ["--security-opt", "seccomp=unconfined"]]) {
    const desc = `paranoid-test-${crypto.randomUUID()}`;
    const secret = `secret-${crypto.randomUUID()}`;
    const out = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        host,
        String(table["add_key"]),
        String(table["keyctl"]),
        desc,
        secret,
        Deno.execPath(),
        "run",
        "-A",
        "--no-config",
        MAIN,
        ...PY,
        "-N",
        ...extra,
        "--",
        PYTHON,
        "-c",
        PY_PRELUDE + probe,
        JSON.stringify(table),
        desc,
        "@KEYID@",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const td = new TextDecoder();
    assert.equal(out.code, 0, td.decode(out.stderr));
    const [found, read, text] = JSON.parse(td.decode(out.stdout).trim().split("\n").at(-1)!);
    const what = extra.join(" ");
    assert.equal(text, "", `${what}: the container read the user's key`);
    assert.equal(
      found[0],
      -1,
      `${what}: the user's key was found in the container's session keyring`,
    );
    assert.equal(read[0], -1, `${what}: the user's key could be read by id`);
  }
});

Deno.test("security: the host's environment does not leak into INIT", async () => {
  const secret = `hunter-${crypto.randomUUID()}`;
  const r = await paranoid([R, "-N", "-e", "GIVEN=yes", "--", "/bin/sh", "-c", "env"], {
    env: { PARANOID_TEST_SECRET: secret },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(secret), r.stdout);
  assert.match(r.stdout, /^GIVEN=yes$/m);
});

Deno.test("security: under --init, pid 1 shows neither the host's command line nor its paths", async () => {
  const secret = `hunter-${crypto.randomUUID()}`;
  const r = await paranoid(
    [
      R,
      "-N",
      "--init",
      "--",
      "/bin/sh",
      "-c",
      "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/comm; ps",
    ],
    { env: { PARANOID_TEST_SECRET: secret } },
  );
  assert.equal(r.code, 0, r.stderr);
  const [cmdline, comm] = r.stdout.split("\n");
  assert.equal(cmdline!.trim(), "paranoid-init");
  assert.equal(comm, "paranoid-init");
  for (const leak of [secret, Deno.execPath(), Deno.cwd(), "--root"]) {
    assert.ok(!r.stdout.includes(leak), `${leak} in ${r.stdout}`);
  }
});

// ---------------------------------------------------------------------------------------------
// The host side's processes and sockets

Deno.test("security: the host side's processes are invisible and cannot be signalled or traced", async () => {
  requirePython();
  const marker = `marker-${crypto.randomUUID()}`;
  const code = `
for line in sys.stdin:
    pid = int(line)
    try:
        os.kill(pid, 0)
        k = 0
    except ProcessLookupError:
        k = 3
    except PermissionError:
        k = 1
    t = sc("ptrace", 16, pid, 0, 0)
    print(json.dumps([k, t, os.path.exists("/proc/%d" % pid)]), flush=True)
`;
  for (const extra of [[], ["--privileged"]]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-config",
        MAIN,
        ...PY,
        "-N",
        ...extra,
        "--",
        PYTHON,
        "-c",
        PY_PRELUDE + code,
        JSON.stringify(syscallTable()),
        marker,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The host side (a deno process) and every process of this test are host-side pids.
    let hostSide: number[] = [];
    await eventually(() => {
      hostSide = processesWith(marker).filter((p) => {
        try {
          return /deno/.test(Deno.readLinkSync(`/proc/${p}/exe`));
        } catch {
          return false;
        }
      });
      return hostSide.length > 0;
    }, "the host side to start");
    const pids = [...new Set([...hostSide, Deno.pid])];
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(pids.map((p) => `${p}\n`).join("")));
    await w.close();
    const out = await child.output();
    const td = new TextDecoder();
    assert.equal(out.code, 0, td.decode(out.stderr));
    const lines = td.decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, pids.length);
    for (const [i, [kill, trace, visible]] of lines.entries()) {
      const what = `${extra.join(" ")} pid ${pids[i]}`;
      assert.equal(kill, ESRCH, `${what}: kill -0 did not fail with ESRCH`);
      assert.equal(visible, false, `${what}: visible in the container's /proc`);
      // Default: the filter refuses ptrace (no CAP_SYS_PTRACE); privileged: no such process.
      assert.deepEqual(trace, [-1, extra.length === 0 ? EPERM : ESRCH], what);
    }
  }
});

Deno.test("security: the host side's executable is not reachable through /proc/*/exe", async () => {
  const r = await sh(
    "readlink /proc/1/exe; for p in /proc/[0-9]*; do readlink $p/exe; done | grep -c deno; " +
      "echo x >> /proc/1/exe 2>/dev/null && echo LEAK-write; true",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["/bin/busybox", "0"]);
});

Deno.test("security: with -N a TCP port on the host's loopback is unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const c of listener) accepted.push(c);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const r = await sh(
      `ip route | wc -l; echo | nc -w 1 127.0.0.1 ${port}; echo nc=$?; ` +
        `echo | nc -w 1 10.0.15.1 ${port}; echo gw=$?`,
    );
    assert.equal(r.code, 0, r.stderr);
    const [routes, nc, gw] = r.stdout.trim().split("\n");
    assert.equal(routes, "0");
    assert.notEqual(nc, "nc=0");
    assert.notEqual(gw, "gw=0");
    assert.equal(accepted.length, 0);
  } finally {
    listener.close();
    await loop.catch(() => {});
    for (const c of accepted) c.close();
  }
});

Deno.test("security: an abstract unix socket bound on the host is unreachable", async () => {
  requirePython();
  const name = `paranoid-sec-${crypto.randomUUID()}`;
  const server = new Deno.Command(PYTHON, {
    args: [
      "-c",
      `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\\0" + sys.argv[1])
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello from the host\\n")
    c.close()
`,
      name,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = server.stdout.getReader();
  try {
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value).trim(), "ready");
    const connect = `
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0" + sys.argv[2])
    print(json.dumps(s.recv(100).decode()))
except OSError as e:
    print(json.dumps(e.errno))
`;
    // From the host the socket answers, so the name is right.
    const host = await new Deno.Command(PYTHON, {
      args: ["-c", PY_PRELUDE + connect, JSON.stringify(syscallTable()), name],
      stdout: "piped",
    }).output();
    assert.equal(
      JSON.parse(new TextDecoder().decode(host.stdout).trim()),
      "hello from the host\n",
    );
    const ECONNREFUSED = 111;
    assert.equal(await python(connect, [], [name]), ECONNREFUSED);
  } finally {
    server.kill("SIGKILL");
    reader.releaseLock();
    await server.stdout.cancel();
    await server.status;
  }
});

Deno.test("security: the gateway leads to the host's loopback only without --disable-host-loopback", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const greeting = `host-loopback-${crypto.randomUUID()}`;
  const served = (async () => {
    for await (const c of listener) {
      await c.write(new TextEncoder().encode(`${greeting}\n`)).catch(() => 0);
      c.close();
    }
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const script = `nc -w 2 10.0.15.1 ${port} </dev/null; echo gw=$?; ` +
      `nc -w 2 127.0.0.1 ${port} </dev/null; echo lo=$?`;
    const open = await paranoid([R, "--", "/bin/sh", "-c", script]);
    assert.equal(open.code, 0, open.stderr);
    assert.deepEqual(open.stdout.trim().split("\n"), [greeting, "gw=0", "lo=1"]);
    const closed = await paranoid([R, "--disable-host-loopback", "--", "/bin/sh", "-c", script]);
    assert.equal(closed.code, 0, closed.stderr);
    assert.deepEqual(closed.stdout.trim().split("\n"), ["gw=1", "lo=1"]);
    assert.match(closed.stderr, /10\.0\.15\.1\): Connection refused/);
  } finally {
    listener.close();
    await served.catch(() => {});
  }
});

Deno.test("security: over IPv6 too, the gateway leads to the host's ::1 only without --disable-host-loopback", async () => {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: "::1", port: 0 });
  } catch (e) {
    throw new Error("the host has no IPv6 loopback (::1): enable IPv6 on lo", { cause: e });
  }
  const greeting = `host-loopback6-${crypto.randomUUID()}`;
  const served = (async () => {
    for await (const c of listener) {
      await c.write(new TextEncoder().encode(`${greeting}\n`)).catch(() => 0);
      c.close();
    }
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const script = `nc -w 2 fd00:15::1 ${port} </dev/null; echo gw=$?; ` +
      `nc -w 2 ::1 ${port} </dev/null; echo lo=$?`;
    const open = await paranoid([R, "--", "/bin/sh", "-c", script]);
    assert.equal(open.code, 0, open.stderr);
    assert.deepEqual(open.stdout.trim().split("\n"), [greeting, "gw=0", "lo=1"]);
    const closed = await paranoid([R, "--disable-host-loopback", "--", "/bin/sh", "-c", script]);
    assert.equal(closed.code, 0, closed.stderr);
    assert.deepEqual(closed.stdout.trim().split("\n"), ["gw=1", "lo=1"]);
  } finally {
    listener.close();
    await served.catch(() => {});
  }
});

Deno.test("security: INIT has no controlling terminal, so TIOCSTI cannot type into the user's shell", async () => {
  requirePython();
  // The host side runs on a pty, as from an interactive shell, with stdin not a terminal (so no
  // -t): INIT's stdout is the user's terminal, and TIOCSTI on it would queue input for the shell.
  const host = `
import os, pty, select, sys
pid, master = pty.fork()
if pid == 0:
    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
`;
  const probe = `
import fcntl, termios
st = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
res = []
for c in b"echo INJECTED\\n":
    try:
        fcntl.ioctl(1, termios.TIOCSTI, bytes([c]))
        res.append(0)
    except OSError as e:
        res.append(e.errno)
print(json.dumps([os.isatty(1), int(st[4]), sorted(set(res))]), flush=True)
`;
  const out = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      host,
      Deno.execPath(),
      "run",
      "-A",
      "--no-config",
      MAIN,
      ...PY,
      "-N",
      "--",
      PYTHON,
      "-c",
      PY_PRELUDE + probe,
      JSON.stringify(syscallTable()),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  const text = td.decode(out.stdout);
  assert.equal(out.code, 0, text + td.decode(out.stderr));
  const line = text.split(/\r?\n/).find((l) => l.startsWith("["));
  assert.ok(line !== undefined, text);
  const [isatty, ttyNr, errnos] = JSON.parse(line);
  assert.equal(isatty, true, "the probe did not run on the user's terminal");
  assert.equal(ttyNr, 0, "INIT has a controlling terminal");
  assert.deepEqual(errnos, [EPERM]);
  assert.doesNotMatch(text, /INJECTED/);
});

// ---------------------------------------------------------------------------------------------
// Masked and read-only paths, --read-only

Deno.test("security: masked paths read empty and read-only paths refuse writes", async () => {
  const r = await sh(
    [
      "for f in /proc/keys /proc/timer_list /proc/kcore /proc/sched_debug /proc/timer_stats " +
      "/proc/latency_stats; do [ -e $f ] && wc -c < $f; done | sort -u",
      "ls -A /proc/acpi /proc/scsi /sys/firmware 2>/dev/null | grep -v ':$' | grep -c .",
      "h=$(hostname); echo evil > /proc/sys/kernel/hostname; [ $(hostname) = $h ] && echo same",
      "for d in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do " +
      '[ -e $d ] && grep -q " $d [a-z]* ro," /proc/mounts && echo ro; done | sort -u',
      "echo x > /sys/kernel/uevent_helper; true",
    ].join("; "),
  );
  assert.equal(r.stdout.trim().split("\n").length, 4, r.stdout + r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["0", "0", "same", "ro"]);
  assert.match(r.stderr, /hostname: Read-only file system/);
  assert.match(r.stderr, /uevent_helper: Read-only file system/);
});

Deno.test("security: --privileged lifts the masked and read-only paths", async () => {
  const r = await sh(
    "grep -c -E ' /proc/(acpi|keys|timer_list|sys|bus|fs|irq) | /sys/firmware ' /proc/mounts",
    ["--privileged"],
  );
  assert.equal(r.stdout.trim(), "0", r.stderr);
});

Deno.test("security: --read-only refuses writes to the root but keeps /tmp and /run writable", async () => {
  const marker = `marker-${crypto.randomUUID()}`;
  const r = await sh(
    `touch /${marker}; touch /bin/${marker}; touch /tmp/a && touch /run/a && echo tmp-ok`,
    ["--read-only"],
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "tmp-ok");
  assert.match(r.stderr, new RegExp(`/${marker}: Read-only file system`));
  await assert.rejects(Deno.stat(`${root}/${marker}`), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(`${root}/bin/${marker}`), Deno.errors.NotFound);
});

// ---------------------------------------------------------------------------------------------
// Capabilities

Deno.test("security: the default capabilities are Docker's 14 in every set but none inherited or ambient", async () => {
  const caps = await capsWith([]);
  assert.deepEqual(caps, {
    Inh: 0n,
    Prm: DOCKER_DEFAULT,
    Eff: DOCKER_DEFAULT,
    Bnd: DOCKER_DEFAULT,
    Amb: 0n,
  });
});

Deno.test("security: --cap-add and --cap-drop change the permitted, effective and bounding sets", async () => {
  const cases: [string[], bigint][] = [
    [["--cap-add", "SYS_ADMIN"], DOCKER_DEFAULT | bit(CAP.SYS_ADMIN)],
    [
      ["--cap-add", "CAP_NET_ADMIN", "--cap-drop", "chown"],
      (DOCKER_DEFAULT | bit(CAP.NET_ADMIN)) & ~bit(CAP.CHOWN),
    ],
    [["--cap-drop", "ALL"], 0n],
    [["--cap-drop", "ALL", "--cap-add", "KILL"], bit(CAP.KILL)],
  ];
  for (const [extra, want] of cases) {
    const caps = await capsWith(extra);
    assert.deepEqual(caps, { Inh: 0n, Prm: want, Eff: want, Bnd: want, Amb: 0n }, extra.join(" "));
  }
});

Deno.test("security: --privileged and --cap-add ALL give every capability the kernel knows", async () => {
  const last = Number(await Deno.readTextFile("/proc/sys/kernel/cap_last_cap"));
  const all = (1n << BigInt(last + 1)) - 1n;
  for (const extra of [["--privileged"], ["--cap-add", "ALL"]]) {
    const caps = await capsWith(extra);
    assert.deepEqual(caps, { Inh: 0n, Prm: all, Eff: all, Bnd: all, Amb: 0n }, extra.join(" "));
  }
});

Deno.test("security: a non-root user has no effective capabilities", async () => {
  const caps = await capsWith(["-u", "1000"]);
  assert.deepEqual(caps, { Inh: 0n, Prm: 0n, Eff: 0n, Bnd: DOCKER_DEFAULT, Amb: 0n });
});

// ---------------------------------------------------------------------------------------------
// Resource limits

Deno.test("security: resource limits are enforced or refused before INIT runs, never ignored", async () => {
  // Twelve background sleeps under a limit of five processes: some forks must fail.
  const script = "i=0; while [ $i -lt 12 ]; do sleep 1 & i=$((i+1)); done; wait; echo INIT-ran";
  const pids = await sh(script, ["--pids-limit", "5"]);
  if (pids.code === 125) {
    // No delegated cgroup v2 here: the start is refused with the reason, and INIT never ran.
    assert.equal(pids.stdout, "");
    assert.match(pids.stderr, /--pids-limit needs cgroup v2/);
  } else {
    assert.match(pids.stderr, /can't fork|Resource temporarily unavailable/, pids.stderr);
  }
  for (const extra of [["--memory", "64m"], ["--cpus", "0.5"]]) {
    const r = await sh("echo INIT-ran", extra);
    if (r.code === 125) {
      assert.equal(r.stdout, "", extra.join(" "));
      assert.match(r.stderr, new RegExp(`${extra[0]} needs cgroup v2`));
    } else {
      assert.equal(r.code, 0, r.stderr);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Seccomp profiles from JSON

Deno.test("security: a JSON profile given with --security-opt is enforced", async () => {
  const profile = `${FIXTURES}security_deny_mkdir.json`;
  const r = await sh("mkdir /tmp/denied; echo mkdir=$?; touch /tmp/allowed && echo touch=0", [
    "--security-opt",
    `seccomp=${profile}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["mkdir=1", "touch=0"]);
  assert.match(r.stderr, /mkdir: can't create directory '\/tmp\/denied': Operation not permitted/);
});

Deno.test("security: a malformed JSON profile exits 2 naming the field", async () => {
  const profile = `${FIXTURES}security_bad_action.json`;
  const r = await sh("echo started", ["--security-opt", `seccomp=${profile}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /syscalls\[1\]\.action/);
  assert.match(r.stderr, /SCMP_ACT_NOPE/);
});

Deno.test({
  name: "security: cleanup of the shared roots",
  fn: async () => {
    await removeRoot(root);
    await removeRoot(pyRoot);
  },
});
