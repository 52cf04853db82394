// Integration: `paranoid oci` against the runtime-spec's requirements, as the unprivileged user, on a busybox bundle.

import assert from "node:assert/strict";
import { close, pollReadable, read, receiveMessage } from "../ffi/sys.ts";
import { eventually, MAIN, makeBusyboxRoot, paranoid, processesWith } from "./helpers.ts";

const root = await makeBusyboxRoot();
const stateRoot = await Deno.makeTempDir({ prefix: "paranoid-oci-state-" });
const bundles: string[] = [];
const NAMESPACES = ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"].map((type) => ({
  type,
}));

type Json = Record<string, unknown>;

/** A config.json running `script` with sh, merged with `extra` (process fields under `process`). */
function config(script: string, extra: Json = {}): Json {
  const { process: proc = {}, linux = {}, ...rest } = extra as {
    process?: Json;
    linux?: Json;
  };
  return {
    ociVersion: "1.2.0",
    root: { path: root },
    process: {
      args: ["sh", "-c", script],
      env: ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],
      cwd: "/",
      capabilities: { bounding: ["CAP_KILL"], effective: ["CAP_KILL"], permitted: ["CAP_KILL"] },
      ...proc,
    },
    hostname: "oci",
    mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
    linux: { namespaces: NAMESPACES, ...linux },
    ...rest,
  };
}

/** Makes a bundle directory holding `cfg` as config.json. */
async function bundle(cfg: Json): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "paranoid-oci-bundle-" });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg, null, 2));
  bundles.push(dir);
  return dir;
}

/** `paranoid oci --root STATE ARGS...` with output captured. */
function oci(args: string[]) {
  return paranoid(["oci", "--root", stateRoot, ...args]);
}

/**
 * `create`, whose container inherits its stdio (as with runc): output goes to files, so
 * that the test does not wait for the container to close them.
 */
async function create(id: string, dir: string, extra: string[] = []) {
  const out = `${dir}/create.out`;
  const err = `${dir}/create.err`;
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [
    Deno.execPath(),
    "run",
    "-A",
    "--no-config",
    MAIN,
    "oci",
    "--root",
    stateRoot,
    "create",
    "--bundle",
    dir,
    ...extra,
    id,
  ].map(quote).join(" ");
  const r = await new Deno.Command("sh", {
    args: ["-c", `${command} </dev/null >${quote(out)} 2>${quote(err)}`],
  }).output();
  return { code: r.code, stderr: await Deno.readTextFile(err) };
}

async function state(id: string): Promise<Json> {
  const r = await oci(["state", id]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
}

async function cleanup(id: string): Promise<void> {
  await oci(["delete", "--force", id]);
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

const rootFile = (name: string) => `${root}/tmp/${name}`;
const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

Deno.test("runtime.md: state of a created container is 'created' with its pid", async () => {
  const dir = await bundle(config("echo ran > /tmp/created-ran"));
  try {
    const c = await create("created1", dir);
    assert.equal(c.code, 0, c.stderr);
    const s = await state("created1");
    assert.equal(s.ociVersion, "1.2.0");
    assert.equal(s.id, "created1");
    assert.equal(s.status, "created");
    assert.equal(s.bundle, dir);
    assert.ok(typeof s.pid === "number" && s.pid > 0 && alive(s.pid));
    assert.ok(!exists(rootFile("created-ran")), "create must not run the user's program");
  } finally {
    await cleanup("created1");
  }
});

Deno.test("runtime.md: start runs the user-specified program and the state says 'running'", async () => {
  const dir = await bundle(config("echo ran > /tmp/start-ran; exec sleep 1000"));
  try {
    assert.equal((await create("start1", dir)).code, 0);
    const r = await oci(["start", "start1"]);
    assert.equal(r.code, 0, r.stderr);
    await eventually(() => exists(rootFile("start-ran")), "the program to run");
    assert.equal((await state("start1")).status, "running");
  } finally {
    await cleanup("start1");
    await Deno.remove(rootFile("start-ran")).catch(() => {});
  }
});

Deno.test("runtime.md: start of a container that is not created is an error", async () => {
  const dir = await bundle(config("exec sleep 1000"));
  try {
    assert.equal((await create("start2", dir)).code, 0);
    assert.equal((await oci(["start", "start2"])).code, 0);
    const again = await oci(["start", "start2"]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /container "start2" is not created: its status is "running"/);
  } finally {
    await cleanup("start2");
  }
});

Deno.test("runtime.md: kill sends the signal to the container's process", async () => {
  const dir = await bundle(
    config("trap 'echo got-term > /tmp/kill-term; exit 3' TERM; while :; do sleep 0.05; done"),
  );
  try {
    assert.equal((await create("kill1", dir)).code, 0);
    assert.equal((await oci(["start", "kill1"])).code, 0);
    // The trap is set once the shell runs: TERM until it has taken effect.
    for (let i = 0; i < 200; i++) {
      const r = await oci(["kill", "kill1", "TERM"]);
      if (exists(rootFile("kill-term"))) break; // the last TERM may find it stopped
      assert.equal(r.code, 0, r.stderr);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(exists(rootFile("kill-term")));
    const { pid } = await state("kill1");
    await eventually(() => !alive(pid as number), "the container to exit");
    const status = (await state("kill1")).status;
    assert.equal(status, "stopped");
  } finally {
    await cleanup("kill1");
    await Deno.remove(rootFile("kill-term")).catch(() => {});
  }
});

Deno.test("runtime.md: kill accepts signal numbers and names with or without SIG", async () => {
  for (const [i, sig] of ["9", "KILL", "SIGKILL"].entries()) {
    const id = `kill-sig${i}`;
    const dir = await bundle(config("exec sleep 1000"));
    try {
      assert.equal((await create(id, dir)).code, 0);
      const { pid } = await state(id);
      const r = await oci(["kill", id, sig]);
      assert.equal(r.code, 0, r.stderr);
      await eventually(() => !alive(pid as number), `the container to die of ${sig}`);
      assert.equal((await state(id)).status, "stopped");
    } finally {
      await cleanup(id);
    }
  }
});

Deno.test("runtime.md: kill of a stopped container is an error", async () => {
  const dir = await bundle(config("exit 0"));
  try {
    assert.equal((await create("kill3", dir)).code, 0);
    assert.equal((await oci(["start", "kill3"])).code, 0);
    const { pid } = await state("kill3");
    await eventually(() => !alive(pid as number), "the container to exit");
    const r = await oci(["kill", "kill3", "KILL"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /container "kill3" cannot be signalled: its status is "stopped"/);
  } finally {
    await cleanup("kill3");
  }
});

Deno.test("runtime.md: delete of a running container is an error and leaves it running", async () => {
  const dir = await bundle(config("exec sleep 1000"));
  try {
    assert.equal((await create("del1", dir)).code, 0);
    assert.equal((await oci(["start", "del1"])).code, 0);
    const r = await oci(["delete", "del1"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /container "del1" is running: stop it first or delete it with --force/);
    const s = await state("del1");
    assert.equal(s.status, "running");
    assert.ok(alive(s.pid as number));
  } finally {
    await cleanup("del1");
  }
});

Deno.test("runtime.md: delete --force kills the container and removes its id", async () => {
  const dir = await bundle(config("exec sleep 1000"));
  assert.equal((await create("del2", dir)).code, 0);
  assert.equal((await oci(["start", "del2"])).code, 0);
  const { pid } = await state("del2");
  const r = await oci(["delete", "--force", "del2"]);
  assert.equal(r.code, 0, r.stderr);
  await eventually(() => !alive(pid as number), "the killed process to be reaped");
  const s = await oci(["state", "del2"]);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /container "del2" does not exist/);
});

Deno.test("runtime.md: delete of a stopped container removes it, and its id can be used again", async () => {
  const dir = await bundle(config("exit 0"));
  try {
    assert.equal((await create("del3", dir)).code, 0);
    const started = await oci(["start", "del3"]);
    assert.equal(started.code, 0, started.stderr);
    const { pid } = await state("del3");
    await eventually(() => !alive(pid as number), "the container to exit");
    assert.equal((await state("del3")).status, "stopped");
    const r = await oci(["delete", "del3"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await oci(["state", "del3"])).code, 1);
    assert.equal((await create("del3", dir)).code, 0);
  } finally {
    await cleanup("del3");
  }
});

Deno.test("runtime.md: operations on an unknown container id are errors", async () => {
  for (const args of [["state"], ["start"], ["kill"], ["delete"]]) {
    const r = await oci([...args, "no-such-container"]);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, /^paranoid oci: container "no-such-container" does not exist\n$/);
  }
});

Deno.test("runtime.md: create with an id already in use is an error", async () => {
  const dir = await bundle(config("exec sleep 1000"));
  try {
    assert.equal((await create("dup1", dir)).code, 0);
    const { pid } = await state("dup1");
    const again = await create("dup1", dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /container "dup1" already exists/);
    const s = await state("dup1");
    assert.equal(s.status, "created");
    assert.equal(s.pid, pid);
  } finally {
    await cleanup("dup1");
  }
});

Deno.test("runtime.md: state carries the bundle's annotations", async () => {
  const dir = await bundle(config("exit 0", { annotations: { "org.example.key": "value" } }));
  try {
    assert.equal((await create("ann1", dir)).code, 0);
    assert.deepEqual((await state("ann1")).annotations, { "org.example.key": "value" });
  } finally {
    await cleanup("ann1");
  }
});

Deno.test("runc: --pid-file names the process holding the container, which passes signals on", async () => {
  const dir = await bundle(
    config("trap 'echo got-usr1 > /tmp/pidfile-usr1; exit 0' USR1; while :; do sleep 0.05; done"),
  );
  try {
    assert.equal((await create("pidf1", dir, ["--pid-file", `${dir}/pid`])).code, 0);
    const holder = Number(await Deno.readTextFile(`${dir}/pid`));
    assert.ok(alive(holder));
    assert.equal((await oci(["start", "pidf1"])).code, 0);
    for (let i = 0; i < 200 && !exists(rootFile("pidfile-usr1")); i++) {
      if (alive(holder)) Deno.kill(holder, "SIGUSR1");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(exists(rootFile("pidfile-usr1")));
    await eventually(() => !alive(holder), "the holder to exit with the container");
    assert.equal((await state("pidf1")).status, "stopped");
  } finally {
    await cleanup("pidf1");
    await Deno.remove(rootFile("pidfile-usr1")).catch(() => {});
  }
});

Deno.test("runc: run waits for the container and exits with its status", async () => {
  const dir = await bundle(config("echo out; echo err >&2; exit 7"));
  const r = await oci(["run", "--bundle", dir, "run1"]);
  assert.equal(r.code, 7);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal((await oci(["state", "run1"])).code, 1, "run deletes the container");
});

Deno.test("runc: list shows the containers as a table and as JSON", async () => {
  const dir = await bundle(config("exit 0"));
  try {
    assert.equal((await create("list1", dir)).code, 0);
    const table = await oci(["list"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID +PID +STATUS +BUNDLE/);
    assert.match(table.stdout, /\nlist1 +\d+ +created +\//);
    const json = await oci(["list", "--format", "json"]);
    const entry = (JSON.parse(json.stdout) as Json[]).find((e) => e.id === "list1");
    assert.equal(entry?.status, "created");
  } finally {
    await cleanup("list1");
  }
});

Deno.test("runc: spec writes a config.json that runs as it is, rootless or not", async () => {
  for (const flags of [["--rootless"], []]) {
    const dir = await bundle({});
    await Deno.remove(`${dir}/config.json`);
    const r = await oci(["spec", ...flags, "--bundle", dir]);
    assert.equal(r.code, 0, r.stderr);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/config.json`)) as {
      process: { terminal: boolean; args: string[] };
    };
    assert.deepEqual(cfg.process.args, ["sh"]);
    cfg.process.terminal = false;
    cfg.process.args = ["sh", "-c", "hostname; grep CapBnd /proc/self/status"];
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg));
    await Deno.symlink(root, `${dir}/rootfs`);
    const run = await oci(["run", "-b", dir, "spec1"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "paranoid\nCapBnd:\t0000000020000420\n"); // AUDIT_WRITE KILL NET_BIND_SERVICE
    const again = await oci(["spec", "--bundle", dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /config\.json" already exists: remove it first/);
  }
});

Deno.test("config.md: process.args and process.env are exactly what the program gets", async () => {
  const dir = await bundle(
    config("", {
      process: { args: ["env"], env: ["PATH=/usr/bin:/bin", "ONE=1", "TWO=two words"] },
    }),
  );
  const r = await oci(["run", "-b", dir, "env1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n").sort(), [
    "ONE=1",
    "PATH=/usr/bin:/bin",
    "TWO=two words",
  ]);
});

Deno.test("config.md: process.cwd is the working directory", async () => {
  const dir = await bundle(config("pwd", { process: { cwd: "/etc" } }));
  const r = await oci(["run", "-b", dir, "cwd1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "/etc\n");
});

Deno.test("config.md: process.user sets uid, gid and additionalGids", async () => {
  const dir = await bundle(
    config("id -u; id -g; id -G", {
      process: { user: { uid: 1000, gid: 1000, additionalGids: [5] } },
    }),
  );
  const r = await oci(["run", "-b", dir, "user1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), ["1000", "1000", "1000 5"]);
});

Deno.test("config.md: hostname is set in the container's UTS namespace", async () => {
  const dir = await bundle(config("hostname", { hostname: "oci-host" }));
  const r = await oci(["run", "-b", dir, "host1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "oci-host\n");
});

Deno.test("config.md: root.readonly makes the root filesystem read-only", async () => {
  const dir = await bundle(
    config("touch /etc/x 2>&1; echo $?", { root: { path: root, readonly: true } }),
  );
  const r = await oci(["run", "-b", dir, "ro1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Read-only file system\n1\n$/);
});

Deno.test("config.md: a relative root.path is relative to the bundle", async () => {
  const dir = await bundle(config("echo relative", { root: { path: "rootfs" } }));
  await Deno.symlink(root, `${dir}/rootfs`);
  const r = await oci(["run", "-b", dir, "rel1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "relative\n");
});

Deno.test("config.md: mounts of type bind (ro) and tmpfs are made at their destinations", async () => {
  const dir = await bundle({});
  await Deno.writeTextFile(`${dir}/data.txt`, "from the host\n");
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify(
      config(
        "cat /mnt/data/data.txt; touch /mnt/data/x 2>/dev/null || echo ro; grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
        {
          mounts: [
            { destination: "/proc", type: "proc", source: "proc" },
            { destination: "/mnt/data", type: "bind", source: ".", options: ["rbind", "ro"] },
            { destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["size=1m"] },
          ],
        },
      ),
    ),
  );
  const r = await oci(["run", "-b", dir, "mnt1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "from the host\nro\ntmpfs\n");
});

Deno.test("config.md: process.capabilities.bounding is the capability bounding set", async () => {
  const dir = await bundle(config("grep CapBnd /proc/self/status"));
  const r = await oci(["run", "-b", dir, "caps1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "CapBnd:\t0000000000000020"); // CAP_KILL is 5
});

Deno.test("config.md: process.rlimits are set for the container's process", async () => {
  const dir = await bundle(
    config("ulimit -n", {
      process: { rlimits: [{ type: "RLIMIT_NOFILE", soft: 321, hard: 321 }] },
    }),
  );
  const r = await oci(["run", "-b", dir, "rlim1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "321\n");
});

Deno.test("config.md: linux.seccomp is compiled and installed", async () => {
  const dir = await bundle(
    config("mkdir /tmp/seccomp-denied 2>&1; echo $?", {
      linux: {
        namespaces: NAMESPACES,
        seccomp: {
          defaultAction: "SCMP_ACT_ALLOW",
          architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        },
      },
    }),
  );
  const r = await oci(["run", "-b", dir, "sec1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Operation not permitted\n1\n$/);
  assert.ok(!exists(rootFile("seccomp-denied")));
});

Deno.test("config.md: hooks run on the host with the state on stdin", async () => {
  const out = await Deno.makeTempDir({ prefix: "paranoid-oci-hooks-" });
  bundles.push(out);
  const hook = (name: string) => ({
    path: "/bin/sh",
    args: ["sh", "-c", `cat > ${out}/${name}`],
  });
  const dir = await bundle(
    config("exit 0", {
      hooks: {
        prestart: [hook("prestart")],
        createRuntime: [hook("createRuntime")],
        poststart: [hook("poststart")],
        poststop: [hook("poststop")],
      },
    }),
  );
  assert.equal((await create("hook1", dir)).code, 0);
  const created = JSON.parse(await Deno.readTextFile(`${out}/createRuntime`)) as Json;
  assert.equal(created.id, "hook1");
  assert.equal(created.status, "creating");
  assert.ok(exists(`${out}/prestart`));
  assert.ok(!exists(`${out}/poststart`));
  assert.equal((await oci(["start", "hook1"])).code, 0);
  assert.equal((JSON.parse(await Deno.readTextFile(`${out}/poststart`)) as Json).id, "hook1");
  const { pid } = await state("hook1");
  await eventually(() => !alive(pid as number), "the container to exit");
  assert.equal((await oci(["delete", "hook1"])).code, 0);
  const stopped = JSON.parse(await Deno.readTextFile(`${out}/poststop`)) as Json;
  assert.equal(stopped.status, "stopped");
});

Deno.test("config.md: a failing createRuntime hook fails create and leaves nothing", async () => {
  const dir = await bundle(
    config("exec sleep 1000", {
      hooks: { createRuntime: [{ path: "/bin/false", args: ["false"] }] },
    }),
  );
  const c = await create("hook2", dir);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /hooks\.createRuntime\[0\] "\/bin\/false" failed with exit status 1/);
  assert.equal((await oci(["state", "hook2"])).code, 1);
});

Deno.test("config.md: an unsupported field is an error naming it", async () => {
  const cases: [Json, RegExp][] = [
    [
      config("exit 0", { linux: { namespaces: NAMESPACES, resources: { memory: { limit: 1 } } } }),
      /config\.json: linux\.resources\.memory is not supported without a delegated cgroup/,
    ],
    [
      config("exit 0", {
        linux: { namespaces: [...NAMESPACES.slice(1), { type: "pid", path: "/proc/1/ns/pid" }] },
      }),
      /config\.json: linux\.namespaces\[6\]\.path is not supported/,
    ],
    [
      config("exit 0", { linux: { namespaces: NAMESPACES.slice(1) } }),
      /config\.json: linux\.namespaces: sharing the host's pid namespace is not supported/,
    ],
    [
      config("exit 0", {
        linux: {
          namespaces: NAMESPACES,
          uidMappings: [{ containerID: 0, hostID: 12345, size: 1 }],
        },
      }),
      /config\.json: linux\.uidMappings \[0 12345 1\] differs from what paranoid can map/,
    ],
    [
      config("exit 0", {
        mounts: [{ destination: "/mnt", type: "nfs", source: "host:/x" }],
      }),
      /config\.json: mounts\[0\]\.type "nfs" is not supported/,
    ],
  ];
  for (const [i, [cfg, message]] of cases.entries()) {
    const dir = await bundle(cfg);
    const c = await create(`bad${i}`, dir);
    assert.equal(c.code, 1, `case ${i}`);
    assert.match(c.stderr, message);
    assert.equal((await oci(["state", `bad${i}`])).code, 1, "nothing is left behind");
  }
});

Deno.test("runc: --log with --log-format json records errors as JSON lines", async () => {
  const log = `${stateRoot}/../paranoid-oci-log-${crypto.randomUUID()}.json`;
  try {
    const r = await paranoid([
      "oci",
      "--root",
      stateRoot,
      "--log",
      log,
      "--log-format",
      "json",
      "state",
      "missing",
    ]);
    assert.equal(r.code, 1);
    const line = JSON.parse((await Deno.readTextFile(log)).trim()) as Json;
    assert.equal(line.level, "error");
    assert.equal(line.msg, 'container "missing" does not exist');
  } finally {
    await Deno.remove(log).catch(() => {});
  }
});

Deno.test("config.md: process.terminal sends the pty master to --console-socket", async () => {
  const dir = await bundle(
    config("tty; echo on-the-terminal; exec sleep 1000", { process: { terminal: true } }),
  );
  const path = `${dir}/console.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const sockets = () =>
    new Map(
      [...Deno.readDirSync("/proc/self/fd")].flatMap((e) => {
        try {
          return [[e.name, Deno.readLinkSync(`/proc/self/fd/${e.name}`)] as const];
        } catch {
          return [];
        }
      }),
    );
  try {
    const created = create("tty1", dir, ["--console-socket", path]);
    const before = sockets();
    const conn = await listener.accept();
    // Deno hides a connection's fd: find it as the new socket that the kernel lists under
    // the listener's path in /proc/net/unix (an accepted socket carries that path too).
    const acceptedInodes = new Set(
      Deno.readTextFileSync("/proc/net/unix").split("\n").slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => f[7] === path && f[5] === "03")
        .map((f) => `socket:[${f[6]}]`),
    );
    const fresh = [...sockets()].filter(([fd, l]) => acceptedInodes.has(l) && before.get(fd) !== l);
    assert.equal(fresh.length, 1, `new sockets: ${JSON.stringify(fresh)}`);
    // Deno's sockets are non-blocking: wait until the message is there.
    await pollReadable([Number(fresh[0]![0])], 30_000);
    const got = receiveMessage(Number(fresh[0]![0]), new Uint8Array(256));
    conn.close();
    assert.equal(got.fds.length, 1);
    const c = await created;
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await oci(["start", "tty1"])).code, 0);
    let text = "";
    const buf = new Uint8Array(256);
    while (!text.includes("on-the-terminal\r\n")) {
      let n = 0;
      try {
        n = read(got.fds[0]!, buf);
      } catch {
        break; // EIO: the terminal's other side closed
      }
      if (n === 0) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    close(got.fds[0]!);
    assert.match(text, /^\/dev\/pts\/\d+\r\non-the-terminal\r\n/);
  } finally {
    listener.close();
    await cleanup("tty1");
  }
});

Deno.test("runc: exec runs a process in the running container's namespaces", async () => {
  const dir = await bundle(config("echo $$ > /tmp/exec-init; exec sleep 1000", { hostname: "ex" }));
  try {
    assert.equal((await create("exec1", dir)).code, 0);
    assert.equal((await oci(["start", "exec1"])).code, 0);
    await eventually(() => exists(rootFile("exec-init")), "INIT to run");
    const r = await oci([
      "exec",
      "--cwd",
      "/etc",
      "-e",
      "EXTRA=yes",
      "exec1",
      "sh",
      "-c",
      "cat /tmp/exec-init; hostname; pwd; echo $EXTRA; cat /proc/1/cmdline | tr '\\0' ' '; exit 5",
    ]);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, "1\nex\n/etc\nyes\nsleep 1000 ");
    const u = await oci(["exec", "-u", "1000:1000", "exec1", "id"]);
    assert.equal(u.stdout, "uid=1000(user) gid=1000(user) groups=1000(user)\n");
  } finally {
    await cleanup("exec1");
    await Deno.remove(rootFile("exec-init")).catch(() => {});
  }
});

Deno.test("runc: exec in a container that is not running is an error", async () => {
  const dir = await bundle(config("exit 0"));
  try {
    assert.equal((await create("exec2", dir)).code, 0);
    const r = await oci(["exec", "exec2", "true"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /container "exec2" is not running: its status is "created"/);
  } finally {
    await cleanup("exec2");
  }
});

Deno.test("oci: every test removed its container and no monitor is left", async () => {
  const left = await oci(["list", "--format", "json"]);
  assert.deepEqual(JSON.parse(left.stdout), [], "every test removed its container");
  assert.deepEqual(processesWith(`${stateRoot} __monitor`), [], "no monitor is left");
});

// Removal at exit, so that a filtered or failed run leaves nothing either.
globalThis.addEventListener("unload", () => {
  for (
    const e of (() => {
      try {
        return [...Deno.readDirSync(stateRoot)];
      } catch {
        return [];
      }
    })()
  ) {
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", MAIN, "oci", "--root", stateRoot, "delete", "-f", e.name],
      stdout: "null",
      stderr: "null",
    }).outputSync();
  }
  for (const dir of [...bundles, stateRoot, root]) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // files of subordinate ids: only removable from inside a user namespace
      new Deno.Command("unshare", { args: ["-Ur", "rm", "-rf", dir], stderr: "null" })
        .outputSync();
    }
  }
});
