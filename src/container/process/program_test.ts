// Unit tests for syscall programs: the interpreter against a recording seam, and the init's programs as listings.

import assert from "node:assert/strict";
import { ProgramBuilder, runProgram, type SyscallSeam } from "./program.ts";
import { prepareInit } from "./init_program.ts";
import { candidatesFor } from "./identity.ts";
import { buildSpec } from "../options.ts";

/** A seam that records each call and answers from a script: a number, or -errno. */
function recording(answers: Map<number, number[]> = new Map()) {
  const calls: number[][] = [];
  let errno = 0;
  const seam: SyscallSeam = {
    syscall(nr, ...args) {
      calls.push([nr, ...args]);
      const next = answers.get(nr)?.shift() ?? 0;
      if (next < 0) {
        errno = -next;
        return -1;
      }
      return next;
    },
    errno: () => errno,
  };
  return { calls, seam };
}

Deno.test("program: a call's result reaches later calls through its register", () => {
  const p = new ProgramBuilder();
  const fd = p.register();
  const path = p.cstr("/x");
  p.call(257, [-100, path, 0, 0], { step: "open x", syscall: "open", result: fd });
  p.call(3, [fd], { step: "close x", syscall: "close" });
  const { calls, seam } = recording(new Map([[257, [7]]]));
  assert.equal(runProgram(p.end(), [], seam), null);
  assert.deepEqual(calls[0], [257, -100, p.address(path), 0, 0, 0, 0]);
  assert.deepEqual(calls[1], [3, 7, 0, 0, 0, 0, 0]);
});

Deno.test("program: tolerated and optional failures go on, others stop with their step", () => {
  const p = new ProgramBuilder();
  p.call(258, [1], { step: "make /a", syscall: "mkdir", path: "/a", tolerate: [17] });
  p.call(165, [2], { step: "mount /sys", syscall: "mount", optional: true });
  p.call(165, [3], { step: "mount /proc", syscall: "mount", path: "/proc", exitCode: 125 });
  p.call(3, [4], { step: "never", syscall: "close" });
  const { calls, seam } = recording(new Map([[258, [-17]], [165, [-1, -13]]]));
  const failure = runProgram(p.end(), [], seam);
  assert.equal(calls.length, 3);
  assert.deepEqual(failure, {
    index: 2,
    errno: 13,
    meta: { step: "mount /proc", syscall: "mount", path: "/proc", exitCode: 125 },
  });
});

Deno.test("program: a call interrupted by a signal is made again; hooks run in their place", () => {
  const p = new ProgramBuilder();
  const order: string[] = [];
  const fd = p.register();
  p.call(61, [1], { step: "wait", syscall: "wait4", result: fd });
  p.hook("the hook", 1, [fd, 9]);
  p.call(3, [1], { step: "close", syscall: "close" });
  const { calls, seam } = recording(new Map([[61, [-4, 5]]]));
  const program = p.end();
  const hooks = [
    () => order.push("wrong"),
    (args: readonly number[]) => order.push(`hook ${args}`),
  ];
  assert.equal(runProgram(program, hooks, seam), null);
  assert.deepEqual(calls.map((c) => c[0]), [61, 61, 3]);
  assert.deepEqual(order, ["hook 5,9,0,0,0"]);
  assert.deepEqual(program.listing(), ["wait: wait4", "the hook: (hook)", "close: close"]);
});

Deno.test("program: a fallback runs once on a failure, then the call is made again", () => {
  const p = new ProgramBuilder();
  const fallbacks: number[] = [];
  const named = (step: string, n: number) => ({
    step,
    syscall: "mount",
    fallback: { hook: 0, args: [n] },
  });
  p.call(165, [1], named("mount /a", 7));
  p.call(165, [2], named("mount /b", 8));
  const { calls, seam } = recording(new Map([[165, [-2, 0, -2, -2]]]));
  const failure = runProgram(p.end(), [([n]) => void fallbacks.push(n!)], seam);
  assert.deepEqual(calls.map((c) => c[1]), [1, 1, 2, 2]);
  assert.deepEqual(fallbacks, [7, 8]);
  assert.equal(failure?.index, 1);
  assert.equal(failure?.errno, 2);
});

Deno.test("program: strings are NUL-terminated, written once, and stay where they were put", () => {
  const p = new ProgramBuilder();
  const a = p.cstr("/dev/pts");
  assert.equal(p.cstr("/dev/pts"), a);
  assert.deepEqual([...a], [...new TextEncoder().encode("/dev/pts"), 0]);
  const big = p.bytes(new Uint8Array(20000).fill(1));
  for (const b of [a, big]) {
    assert.equal(p.address(b), Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b))));
  }
  const argv = p.cstrArray(["sh", "-c"]);
  const pointers = new BigUint64Array(argv.buffer, argv.byteOffset, 3);
  assert.equal(Number(pointers[0]), p.address(p.cstr("sh")));
  assert.equal(pointers[2], 0n);
  assert.throws(() => p.call(1, [new Uint8Array(4)], { step: "x", syscall: "write" }));
});

Deno.test("init program: host paths are opened before the chroot, targets are container paths", async () => {
  const root = Deno.makeTempDirSync();
  try {
    const { spec } = await buildSpec({
      root,
      command: "sh",
      network: false,
      mounts: [{ type: "bind", source: root, target: "/data", readonly: true }],
    });
    const init = prepareInit(spec, {
      sock: 5,
      stdio: [0, 1, 2],
      setgroupsDenied: true,
      lastCapability: 40,
      signals: { ignored: [13], caught: [2, 15] },
    });
    const listing = init.setup.listing();
    const chroot = listing.indexOf(`enter the root: chroot ${spec.root}`);
    assert.ok(chroot > 0, listing.join("\n"));
    const at = (line: string) => {
      const i = listing.indexOf(line);
      assert.ok(i >= 0, `${line} not in:\n${listing.join("\n")}`);
      return i;
    };
    assert.ok(at("bind /dev/null: open_tree /dev/null") < chroot);
    assert.ok(at(`bind ${root} to /data: open_tree ${root}`) < chroot);
    assert.ok(at("mount /proc: mount /proc") > chroot);
    assert.ok(at("bind /dev/null: mount /dev/null") > at("mount /dev: mount /dev"));
    assert.ok(
      at("make /data read-only: mount_setattr /data") > at(`bind ${root} to /data: mount /data`),
    );
    assert.ok(at("pivot_root: pivot_root " + spec.root) > chroot);
    // The host root's descriptor is closed before anything of the container's runs.
    assert.ok(at("pivot_root: close " + spec.root) < at("pivot_root: pivot_root " + spec.root));
    const finish = init.finish.listing();
    assert.ok(finish.includes("set no_new_privs: prctl"));
    assert.ok(finish.includes("limit the capability bounding set: prctl PR_CAPBSET_DROP 21"));
    assert.ok(!finish.includes("limit the capability bounding set: prctl PR_CAPBSET_DROP 41"));
    assert.deepEqual(init.names().candidates, candidatesFor("sh", spec.env));
    assert.equal(init.candidates.length, init.names().candidates.length);
    // The signals the host side ignores or catches are reset, then none is blocked.
    const resets = finish.filter((l) => l.startsWith("reset signal dispositions: "));
    assert.deepEqual(resets.map((l) => l.split(": ")[1]), [
      "rt_sigaction",
      "rt_sigaction",
      "rt_sigaction",
      "rt_sigprocmask",
    ]);
    // Nothing is made under proc or sysfs, nor followed through links under a fresh tmpfs.
    assert.ok(!listing.some((l) => /: (mkdir|mknod) \/(proc|sys)\//.test(l)), listing.join("\n"));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("init program: INIT's candidates follow execvp", () => {
  assert.deepEqual(candidatesFor("/bin/sh", []), ["/bin/sh"]);
  assert.deepEqual(candidatesFor("x/y", []), ["x/y"]);
  assert.deepEqual(candidatesFor("sh", ["PATH=/a::/b"]), ["/a/sh", "./sh", "/b/sh"]);
  assert.deepEqual(candidatesFor("", []), []);
  assert.equal(candidatesFor("sh", [])[0], "/usr/local/sbin/sh");
});
