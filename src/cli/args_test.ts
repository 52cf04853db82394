// Tests for the option parser and the run options.

import assert from "node:assert/strict";
import { parseOptions, UsageError } from "./args.ts";
import {
  parseEnvFile,
  parseTmpfs,
  parseUser,
  parseVolume,
  RUN_OPTIONS,
  toRunRequest,
} from "./run_options.ts";

const env = {
  cwd: "/home/u",
  getEnv: (k: string) => (k === "HOSTVAR" ? "hv" : undefined),
  stdinIsTerminal: false,
};

Deno.test("args: the original form: short and long options, then INIT after --", () => {
  const r = parseOptions(["-h", "box", "-N", "--root=/r", "--", "/bin/sh", "-c", "x"], RUN_OPTIONS);
  assert.equal(r.options.get("hostname"), "box");
  assert.equal(r.options.get("disable-networking"), true);
  assert.equal(r.options.get("root"), "/r");
  assert.deepEqual(r.rest, ["/bin/sh", "-c", "x"]);
  assert.equal(r.dashDash, true);
});

Deno.test("args: options stop at the first word that is not an option", () => {
  const r = parseOptions(["-r", "/r", "sh", "-N"], RUN_OPTIONS);
  assert.deepEqual(r.rest, ["sh", "-N"]);
  assert.equal(r.options.has("disable-networking"), false);
});

Deno.test("args: combined flags, attached values and repeats", () => {
  const r = parseOptions(["-it", "-eA=1", "-e", "B=2", "--env=C=3", "-v/a:/b", "--"], RUN_OPTIONS);
  assert.equal(r.options.get("interactive"), true);
  assert.equal(r.options.get("tty"), true);
  assert.deepEqual(r.options.get("env"), ["A=1", "B=2", "C=3"]);
  assert.deepEqual(r.options.get("volume"), ["/a:/b"]);
});

Deno.test("args: mistakes name the option", () => {
  const cases: [string[], RegExp][] = [
    [["--nope"], /unknown option "--nope"/],
    [["-Q"], /unknown option "-Q"/],
    [["--root"], /option "--root" needs a value \(ROOT_PATH\)/],
    [["-r"], /option "-r" needs a value/],
    [["--read-only=yes"], /option "--read-only" takes no value/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseOptions(argv, RUN_OPTIONS),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );
  }
});

Deno.test("args: volumes, tmpfs and users are checked", () => {
  assert.deepEqual(parseVolume("data:/d:ro", "/w"), {
    type: "bind",
    source: "/w/data",
    target: "/d",
    readonly: true,
  });
  assert.deepEqual(parseVolume("/a:/b", "/w"), {
    type: "bind",
    source: "/a",
    target: "/b",
    readonly: false,
  });
  assert.throws(() => parseVolume("/a:/b:rx", "/w"), /invalid mode "rx"/);
  assert.throws(() => parseVolume("/a:rel", "/w"), /DST must be an absolute path/);
  assert.throws(() => parseVolume("/a", "/w"), /expected SRC:DST/);
  assert.deepEqual(parseTmpfs("/t:size=1m"), { type: "tmpfs", target: "/t", options: "size=1m" });
  assert.throws(() => parseTmpfs("t"), /absolute path/);
  assert.deepEqual(parseUser("1000"), { uid: 1000, gid: 1000 });
  assert.deepEqual(parseUser("1:2"), { uid: 1, gid: 2 });
  assert.throws(() => parseUser("root"), /invalid value for "--user": "root"/);
});

Deno.test("args: env files skip comments and take host values for bare names", () => {
  assert.deepEqual(parseEnvFile("# c\nA=1\n\nHOSTVAR\nMISSING\nB=x=y\r\n", "f", env.getEnv), [
    ["A", "1"],
    ["HOSTVAR", "hv"],
    ["B", "x=y"],
  ]);
  assert.throws(
    () => parseEnvFile("1BAD=x", "f", env.getEnv),
    /invalid variable name "1BAD" in --env-file "f" line 1/,
  );
});

Deno.test("args: a terminal on stdin turns the tty on unless -i alone is given", () => {
  const parse = (argv: string[], terminal: boolean) => {
    const r = parseOptions(argv, RUN_OPTIONS);
    return toRunRequest(r.options, r.rest, { ...env, stdinIsTerminal: terminal }).tty;
  };
  assert.equal(parse(["--", "sh"], true), true);
  assert.equal(parse(["--", "sh"], false), false);
  assert.equal(parse(["-t", "--", "sh"], false), true);
  assert.equal(parse(["-i", "--", "sh"], true), false);
});

Deno.test("args: --privileged and --security-opt are translated, bad ones named", () => {
  const req = (argv: string[]) => {
    const r = parseOptions(argv, RUN_OPTIONS);
    return toRunRequest(r.options, r.rest, env).container;
  };
  const p = req(["--privileged", "--", "sh"]);
  assert.equal(p.seccomp, null);
  assert.equal(p.maskPaths, false);
  assert.equal(req(["--security-opt", "seccomp=unconfined", "--", "sh"]).seccomp, null);
  assert.equal("seccomp" in req(["--", "sh"]), false);
  assert.throws(
    () => req(["--security-opt", "apparmor=x", "--", "sh"]),
    /invalid value for "--security-opt": "apparmor=x"/,
  );
  assert.throws(() => req(["--cap-add", "CAP_NOPE", "--", "sh"]), /CAP_NOPE/);
});
