// Shared helpers for the integration tests: run the CLI as a subprocess, build a busybox root, find things.

import { buildBusyboxRoot } from "../src/container/default_rootfs.ts";

/**
 * The program the tests run: the repository's main.ts, or what PARANOID_MAIN
 * names (e.g. dist/paranoid.js), so that the same suite can be pointed at the bundle.
 */
export const MAIN = Deno.env.get("PARANOID_MAIN") ??
  new URL("../main.ts", import.meta.url).pathname;

/** The outcome of one CLI run. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A main.ts ...args` as a real user would, with optional stdin text. */
export async function paranoid(
  args: readonly string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string; main?: string } = {},
): Promise<RunResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", options.main ?? MAIN, ...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const child = cmd.spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/**
 * Runs `script` with sh in a container on `root`, under --init and killed
 * after two minutes if it hangs (a guard: pid 1 cannot be killed from inside).
 */
export function runScript(
  root: string,
  script: string,
  options: readonly string[] = [],
): Promise<RunResult> {
  return paranoid([
    `--root=${root}`,
    "--init",
    ...options,
    "--",
    "timeout",
    "-s",
    "KILL",
    "120",
    "/bin/sh",
    "-c",
    script,
  ]);
}

/** Finds the host's busybox; integration tests fail loudly when it is missing. */
export function hostBusybox(): string {
  for (const p of ["/bin/busybox", "/usr/bin/busybox"]) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // next
    }
  }
  throw new Error("busybox is missing: install the Debian package busybox-static");
}

/** Builds a fresh busybox root in a temporary directory, owned by the test user, with a user 1000. */
export async function makeBusyboxRoot(): Promise<string> {
  const busybox = hostBusybox();
  const root = await Deno.makeTempDir({ prefix: "paranoid-root-" });
  await buildBusyboxRoot(root, busybox);
  await Deno.writeTextFile(`${root}/etc/passwd`, "user:x:1000:1000::/tmp:/bin/sh\n", {
    append: true,
  });
  await Deno.writeTextFile(`${root}/etc/group`, "user:x:1000:\n", { append: true });
  return root;
}

/** Removes a root made by makeBusyboxRoot, even where the container changed owners inside it. */
export async function removeRoot(root: string): Promise<void> {
  await Deno.remove(root, { recursive: true }).catch(async () => {
    // Files chowned to subordinate ids can only be removed from inside a user namespace.
    await new Deno.Command("unshare", { args: ["-Ur", "rm", "-rf", root] }).output().catch(
      () => {},
    );
  });
}

/** Pids of processes whose command line contains `marker`, other than this test's own. */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmdline.includes(marker)) found.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return found.filter((p) => p !== Deno.pid);
}

/** Waits until `check` is true, polling; throws after `tries` attempts. */
export async function eventually(check: () => boolean, what: string, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** Throws, naming the Debian package, when a host program the tests need is missing. */
export function requireProgram(path: string, pkg: string): void {
  try {
    if (Deno.statSync(path).isFile) return;
  } catch {
    // reported below
  }
  throw new Error(`${path} is missing: install the Debian package ${pkg}`);
}

/** Throws when /dev/net/tun is missing or not usable by this user. */
export function requireTun(): void {
  try {
    Deno.openSync("/dev/net/tun", { read: true, write: true }).close();
  } catch (e) {
    throw new Error(
      `/dev/net/tun cannot be opened (${e}): load the tun module and make it mode 0666`,
    );
  }
}

/**
 * A root whose /usr is meant to be the host's, bind-mounted read-only (socat and its libraries):
 * busybox applets in bin/ and sbin/, lib and lib64 pointing into usr/, an empty usr/.
 */
export async function makeSocatRoot(): Promise<string> {
  requireProgram("/usr/bin/socat", "socat");
  const dir = await makeBusyboxRoot();
  await Deno.remove(`${dir}/usr`, { recursive: true });
  await Deno.mkdir(`${dir}/usr`);
  const list = await new Deno.Command(`${dir}/bin/busybox`, { args: ["--list"], stdout: "piped" })
    .output();
  for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
    if (applet === "" || applet === "busybox") continue;
    await Deno.symlink("/bin/busybox", `${dir}/bin/${applet}`).catch(() => {});
  }
  await Deno.symlink("usr/lib", `${dir}/lib`);
  await Deno.symlink("usr/lib64", `${dir}/lib64`);
  return dir;
}

/** A run's exit code and the tails of its output, for assertion messages. */
export function describe(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${
    r.stderr.slice(-2000)
  }`;
}

/**
 * Connects to a published port at `hostname:port` until the server inside answers, and returns
 * all it sent; throws after a minute of nothing.
 */
export async function fetchPublished(hostname: string, port: number): Promise<string> {
  // Until the server inside listens, the stack's connection is refused (RST) and the host's
  // ends with nothing read: retry with a pause until a deadline.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    let text = "";
    try {
      const c = await Deno.connect({ hostname, port });
      try {
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await c.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
      } finally {
        c.close();
      }
    } catch {
      // not accepting yet
    }
    if (text !== "") return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing came from ${hostname}:${port}`);
}
