// Integration: the runtime core as the unprivileged user, on a busybox root, through the real CLI.

import assert from "node:assert/strict";
import {
  eventually,
  MAIN,
  makeBusyboxRoot,
  paranoid,
  processesWith,
  removeRoot,
} from "./helpers.ts";

const root = await makeBusyboxRoot();
const R = `--root=${root}`;

Deno.test("container: INIT is root and pid 1 with the requested hostname", async () => {
  const r = await paranoid([
    R,
    "-h",
    "box1",
    "-N",
    "--",
    "sh",
    "-c",
    "id -u; id -g; echo $$; hostname",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["0", "0", "1", "box1"]);
});

Deno.test("container: the default hostname is generated and matches /etc/hostname and /etc/hosts", async () => {
  const r = await paranoid([
    R,
    "-N",
    "--",
    "sh",
    "-c",
    "hostname; cat /etc/hostname; grep -c $(hostname) /etc/hosts",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [name, file, count] = r.stdout.trim().split("\n");
  assert.match(name!, /^[a-z]+-[0-9a-f]{4}$/);
  assert.equal(file, name);
  assert.equal(count, "1");
  assert.notEqual(name, Deno.hostname());
});

Deno.test("container: the original long options work", async () => {
  const r = await paranoid([
    `--root`,
    root,
    "--hostname=long",
    "--disable-networking",
    "--",
    "hostname",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "long");
});

Deno.test("container: /proc is fresh and shows only the container's processes", async () => {
  const r = await paranoid([
    R,
    "-N",
    "--",
    "sh",
    "-c",
    "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [count, cmdline] = r.stdout.trim().split("\n");
  assert.ok(Number(count) <= 4, `saw ${count} processes`);
  assert.match(cmdline!, /^sh -c /);
});

Deno.test("container: /dev holds the OCI default devices, devpts, shm, mqueue and the fd links", async () => {
  const script = [
    "echo x > /dev/null && echo null-ok",
    "head -c 4 /dev/zero | wc -c",
    "head -c 4 /dev/urandom | wc -c",
    "test -c /dev/full && test -c /dev/random && test -c /dev/tty && echo chars-ok",
    "test -e /dev/pts/ptmx && readlink /dev/ptmx",
    "readlink /dev/fd; readlink /dev/stdin",
    "touch /dev/shm/x && echo shm-ok",
    "grep -q mqueue /proc/mounts && echo mqueue-ok",
    "ls /dev | wc -l",
  ].join("; ");
  const r = await paranoid([R, "-N", "--", "sh", "-c", script]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.deepEqual(lines.slice(0, 8), [
    "null-ok",
    "4",
    "4",
    "chars-ok",
    "pts/ptmx",
    "/proc/self/fd",
    "/proc/self/fd/0",
    "shm-ok",
  ]);
  assert.equal(lines[8], "mqueue-ok");
  assert.ok(Number(lines[9]) <= 20, "no host devices leak into /dev");
});

Deno.test("container: /sys is mounted read-only and masked paths hide host data", async () => {
  const r = await paranoid([
    R,
    "-N",
    "--",
    "sh",
    "-c",
    "touch /sys/x 2>/dev/null || echo sys-ro; test -s /proc/kcore || echo kcore-hidden; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/hostname 2>/dev/null || echo procsys-ro",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["sys-ro", "kcore-hidden", "0", "procsys-ro"]);
});

Deno.test("container: a read-write volume writes through to the host and a read-only one refuses", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/in.txt`, "from host");
    const r = await paranoid([
      R,
      "-N",
      "-v",
      `${dir}:/data`,
      "--volume",
      `${dir}:/ro:ro`,
      "--",
      "sh",
      "-c",
      "cat /data/in.txt; echo; echo from-container > /data/out.txt; echo nope > /ro/x 2>&1 || echo ro-refused",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["from host", "ro-refused"]);
    assert.equal(await Deno.readTextFile(`${dir}/out.txt`), "from-container\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("container: --tmpfs and --read-only give a read-only root with writable /tmp", async () => {
  const r = await paranoid([
    R,
    "-N",
    "--read-only",
    "--tmpfs",
    "/scratch",
    "--",
    "sh",
    "-c",
    "touch /etc/x 2>/dev/null || echo root-ro; touch /tmp/a && echo tmp-ok; touch /scratch/b && echo scratch-ok",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["root-ro", "tmp-ok", "scratch-ok"]);
});

Deno.test("container: env, env-file, workdir and user apply", async () => {
  const envFile = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(envFile, "# comment\nFROM_FILE=yes\n\nOVERRIDDEN=file\n");
    const r = await paranoid([
      R,
      "-N",
      "--env-file",
      envFile,
      "-e",
      "OVERRIDDEN=flag",
      "-e",
      "PLAIN=1",
      "-w",
      "/tmp",
      "-u",
      "1000:1000",
      "--",
      "sh",
      "-c",
      "echo $FROM_FILE $OVERRIDDEN $PLAIN; pwd; id -u; id -g",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["yes flag 1", "/tmp", "1000", "1000"]);
  } finally {
    await Deno.remove(envFile);
  }
});

Deno.test("container: with a subordinate range, chown 1000 inside shows up as the range outside", async () => {
  const sub = Deno.readTextFileSync("/etc/subuid").split("\n").map((l) => l.split(":"))
    .find((f) => f[0] === Deno.env.get("USER") || f[0] === String(Deno.uid()));
  assert.ok(sub, "the test user needs an /etc/subuid range (CI creates one)");
  const r = await paranoid([
    R,
    "-N",
    "--",
    "sh",
    "-c",
    "touch /tmp/owned && chown 1000:1000 /tmp/owned && cat /proc/self/uid_map | wc -l",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "2");
  const info = await Deno.stat(`${root}/tmp/owned`);
  assert.equal(info.uid, Number(sub[1]) + 999);
  const back = await paranoid([R, "-N", "--", "rm", "/tmp/owned"]);
  assert.equal(back.code, 0, back.stderr);
});

Deno.test("container: capabilities are Docker's 14 by default, and --cap-add/--cap-drop change every set", async () => {
  const caps = (out: string) =>
    Object.fromEntries(out.trim().split("\n").map((l) => l.split(":\t")).map(([k, v]) => [k, v]));
  let r = await paranoid([R, "-N", "--", "grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]);
  assert.equal(r.code, 0, r.stderr);
  let c = caps(r.stdout);
  for (const set of ["CapPrm", "CapEff", "CapBnd"]) assert.equal(c[set], "00000000a80425fb", set);
  assert.equal(c.CapInh, "0000000000000000");
  assert.equal(c.CapAmb, "0000000000000000");
  assert.equal(c.NoNewPrivs, "1");
  r = await paranoid([
    R,
    "-N",
    "--cap-drop",
    "ALL",
    "--cap-add",
    "NET_ADMIN",
    "--",
    "grep",
    "^Cap",
    "/proc/self/status",
  ]);
  assert.equal(r.code, 0, r.stderr);
  c = caps(r.stdout);
  for (const set of ["CapPrm", "CapEff", "CapBnd"]) assert.equal(c[set], "0000000000001000", set);
  r = await paranoid([R, "-N", "--cap-drop", "chown", "--", "chown", "1:1", "/tmp"]);
  assert.notEqual(r.code, 0, "chown must fail without CAP_CHOWN");
});

Deno.test("container: the exit status is INIT's, 128+N for a signal, 127 and 126 for exec failures", async () => {
  assert.equal((await paranoid([R, "-N", "--", "sh", "-c", "exit 7"])).code, 7);
  assert.equal((await paranoid([R, "-N", "--init", "--", "sh", "-c", "kill -9 $$"])).code, 137);
  const missing = await paranoid([R, "-N", "--", "/no/such/init"]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /INIT "\/no\/such\/init" was not found in the container: ENOENT/);
  const notExec = await paranoid([R, "-N", "--", "/etc/passwd"]);
  assert.equal(notExec.code, 126);
  assert.match(notExec.stderr, /execve "\/etc\/passwd" failed with EACCES.*chmod \+x/);
});

Deno.test("container: stdin passes through when it is not a terminal", async () => {
  const r = await paranoid([R, "-N", "--", "sh", "-c", "tr a-z A-Z; test -t 0 || echo not-a-tty"], {
    stdin: "hello\n",
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "HELLO\nnot-a-tty\n");
});

Deno.test("container: signals sent to paranoid reach INIT", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      MAIN,
      R,
      "-N",
      "--",
      "sh",
      "-c",
      "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "ready\n");
  child.kill("SIGTERM");
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(rest, "got-term\n");
  assert.equal(status.code, 42);
});

Deno.test("container: --init runs INIT as pid 2 under a reaper that forwards signals", async () => {
  const r = await paranoid([
    R,
    "-N",
    "--init",
    "--",
    "sh",
    "-c",
    "echo $$; sleep 100 & kill -TERM 1; wait",
  ]);
  // The reaper forwards TERM to INIT (sh), which dies of it: 128+15.
  assert.equal(r.code, 143, r.stderr);
  assert.equal(r.stdout.trim(), "2");
});

Deno.test("container: a pty session through script(1) gets a terminal and a login shell", async () => {
  const cmd =
    `${Deno.execPath()} run -A --no-config ${MAIN} ${R} -N -t -- /bin/sh -c "/bin/login -f root"`;
  const child = new Deno.Command("script", {
    args: ["-qec", cmd, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { TERM: "dumb" },
  }).spawn();
  // A guard, not a timing assertion: a hung session must end the test, not the suite.
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const w = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  let text = "";
  // Type only once the shell has printed its prompt: input sent before the
  // terminal goes raw may be flushed, as on a real terminal.
  while (!/[#$] /.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await w.write(new TextEncoder().encode("tty; echo sum-$((40+2)); exit\n"));
  await w.close();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const status = await child.status;
  clearTimeout(guard);
  await child.stderr.cancel();
  assert.match(text, /\/dev\/pts\/0/);
  assert.match(text, /sum-42/);
  assert.equal(status.code, 0);
});

Deno.test("container: each failure is one sentence naming the step, the errno and the path", async () => {
  let r = await paranoid(["--root=/does/not/exist", "--", "sh"]);
  assert.equal(r.code, 125);
  assert.equal(r.stderr.trim(), 'paranoid: root "/does/not/exist" does not exist');
  r = await paranoid([`--root=${root}/etc/passwd`, "--", "sh"]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /is not a directory/);
  r = await paranoid([R, "-N", "-w", "/nowhere", "--", "true"]);
  assert.equal(r.code, 125);
  assert.equal(
    r.stderr.trim(),
    'paranoid: cannot change directory to /nowhere: chdir "/nowhere" failed with ENOENT (no such file or directory)',
  );
  r = await paranoid([R, "-N", "-v", "/no/such/source:/x", "--", "true"]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /volume source "\/no\/such\/source" does not exist/);
  r = await paranoid([R, "-N", "-u", "5000000:0", "--", "true"]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /user 5000000:0 is not mapped into the container/);
});

Deno.test("container: a bad flag or value names itself and exits 2", async () => {
  for (
    const [args, message] of [
      [["--frobnicate", "--", "sh"], /unknown option "--frobnicate"/],
      [["-Z", "--", "sh"], /unknown option "-Z"/],
      [["-u", "root", "--", "sh"], /invalid value for "--user": "root"/],
      [["-v", "nocolon", "--", "sh"], /invalid value for "--volume": "nocolon"/],
      [["--cap-add", "CAP_FOO", "--", "sh"], /CAP_FOO/],
      [["--root"], /option "--root" needs a value/],
      [[R], /no INIT given/],
    ] as const
  ) {
    const r = await paranoid(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

Deno.test("container: help, usage and version", async () => {
  for (const flag of ["--help", "-?"]) {
    const r = await paranoid([flag]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--disable-networking/);
  }
  assert.match((await paranoid(["--usage"])).stdout, /^Usage: paranoid/);
  assert.match((await paranoid(["-V"])).stdout, /^paranoid \d+\.\d+\.\d+/);
});

Deno.test("container: nothing outlives the container when paranoid is killed", async () => {
  const marker = `marker-${crypto.randomUUID()}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      MAIN,
      R,
      "-N",
      "--",
      "sh",
      "-c",
      // Two processes carry the marker: pid 1 and one in the background, each a shell that
      // waits for its sleep (a marker among sleep's own arguments would be an invalid number).
      `sh -c 'sleep 1000; : ${marker}' & echo ready; exec sh -c 'sleep 999; : ${marker}'`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errors = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) {
      const status = await child.status;
      assert.fail(`paranoid ended (${status.code}) before INIT said ready: ${await errors}`);
    }
    out += new TextDecoder().decode(value);
  }
  // The host side's own command line carries the marker too: wait for all three.
  await eventually(() => processesWith(marker).length >= 3, "the container to start");
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  await errors;
  await eventually(() => processesWith(marker).length === 0, "the container's processes to die");
});

Deno.test("container: a child that crashes before INIT exists is started again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const marker = `${dir}/crashed`;
    const r = await paranoid([R, "-N", "--", "sh", "-c", "echo ran"], {
      env: { PARANOID_TEST_CRASH_CHILD_ONCE: marker, PARANOID_TIMING: "1" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran\n");
    assert.equal(Deno.readTextFileSync(marker), "crashed\n"); // the first child did crash
    assert.match(r.stderr, /the child crashed .*; starting again/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (
  const [limit, syscall, named] of [
    ["max_user_namespaces", "clone", /the limit user\.max_user_namespaces/],
    ["max_net_namespaces", "unshare", /user\.max_net_namespaces/],
  ] as const
) {
  Deno.test(`container: a user without namespaces left (${limit}) is told which limit to raise`, async () => {
    // Inside a user namespace of its own, the limit is this user's to set.
    const script = `echo 0 > /proc/sys/user/${limit} && exec "$@"`;
    const out = await new Deno.Command("unshare", {
      args: [
        "-Ur",
        "sh",
        "-c",
        script,
        "sh",
        Deno.execPath(),
        "run",
        "-A",
        "--no-config",
        MAIN,
        R,
        "-N",
        "--",
        "true",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 125, stderr);
    assert.match(
      stderr,
      new RegExp(`^paranoid: cannot create the namespaces: ${syscall} failed with ENOSPC`),
    );
    assert.match(stderr, named);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
  });
}

Deno.test("container: a child stuck before INIT is stopped and started again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const marker = `${dir}/stalled`;
    const r = await paranoid([R, "-N", "--", "sh", "-c", "echo ran"], {
      env: {
        PARANOID_TEST_STALL_CHILD_ONCE: marker,
        PARANOID_SETUP_TIMEOUT_MS: "500",
        PARANOID_TIMING: "1",
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran\n");
    assert.equal(Deno.readTextFileSync(marker), "stalled\n"); // the first child did stall
    assert.match(r.stderr, /did not finish within 500 ms .*; starting again/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("container: starts need no restart (no forked child dies of a lost V8 page)", async () => {
  // A child that crashed before INIT existed is started again, which hides the crash: with
  // PARANOID_TIMING=1 each restart is printed. When fork() allocated between clearing
  // MADV_DONTFORK and fork(2), some configurations crashed their first child at every start
  // (which ones depended on the heap's state, so this catches such a bug only by chance).
  const launcher = new URL("../scripts/paranoid", import.meta.url).pathname;
  for (const extra of [["--privileged"], [], ["--privileged"], [], ["--privileged"], []]) {
    const out = await new Deno.Command(launcher, {
      args: [R, "-N", ...extra, "--", "true"],
      env: { PARANOID_TIMING: "1", PARANOID_NO_BUNDLE: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.doesNotMatch(stderr, /starting again/);
  }
});

Deno.test("container: a failed start leaves no process behind", async () => {
  const marker = `/nowhere-${crypto.randomUUID()}`;
  const r = await paranoid([R, "-N", "-w", marker, "--", "true"]);
  assert.equal(r.code, 125);
  assert.deepEqual(processesWith(marker), []);
});

Deno.test("container: without --root, the default busybox root is built and used", async () => {
  const home = await Deno.makeTempDir();
  try {
    const r = await paranoid(
      ["-N", "--", "sh", "-c", "busybox | head -1 | cut -d' ' -f1; echo $$"],
      {
        env: { XDG_CACHE_HOME: home },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["BusyBox", "1"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("container: resource limits are refused with one sentence where no cgroup v2 is delegated", async () => {
  const { findDelegatedCgroup, CgroupUnavailableError } = await import(
    "../src/container/cgroups.ts"
  );
  let delegated = true;
  try {
    findDelegatedCgroup({ memoryBytes: 64 << 20 });
  } catch (e) {
    if (!(e instanceof CgroupUnavailableError)) throw e;
    delegated = false;
  }
  const r = await paranoid([R, "-N", "--memory", "64m", "--", "cat", "/proc/self/cgroup"]);
  if (delegated) {
    assert.equal(r.code, 0, r.stderr);
  } else {
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^paranoid: --memory needs .*Delegate=yes/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});

Deno.test({
  name: "container: cleanup of the shared root",
  fn: async () => {
    await removeRoot(root);
  },
});
