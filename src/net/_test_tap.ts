// Test helper: runs a shell command on a real TAP (eth0) in a new network namespace, wired to a stack.
//
// A small Python relay (test-only) creates the TAP inside `unshare -rn`, brings it up with the
// container MAC of the tests, runs the command, and carries frames over its stdin/stdout with a
// 4-byte length prefix. Callers skip when {@link tapAvailable} is false.

import type { NetworkStack } from "./stack.ts";

const RELAY = `
import os, sys, fcntl, struct, subprocess, select
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"eth0", 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP|IFF_NO_PI
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["ip", "link", "set", "eth0", "address", "02:00:00:00:00:02", "mtu", sys.argv[2], "up"],
               check=True)
p = subprocess.Popen(["sh", "-c", sys.argv[1]], stdout=sys.stderr, stderr=sys.stderr)
buf = b""
while p.poll() is None:
    r, _, _ = select.select([fd, 0], [], [], 0.05)
    if fd in r:
        frame = os.read(fd, 65536)
        os.write(1, struct.pack("!I", len(frame)) + frame)
    if 0 in r:
        data = os.read(0, 1 << 20)
        if not data:
            break
        buf += data
        while len(buf) >= 4:
            n = struct.unpack("!I", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            os.write(fd, buf[4:4 + n])
            buf = buf[4 + n:]
sys.exit(p.wait())
`;

function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

/** True when unshare, python3, busybox, ip and /dev/net/tun are all present. */
export function tapAvailable(): boolean {
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return false;
  }
  return onPath("unshare") && onPath("python3") && onPath("busybox") && onPath("ip");
}

/** The outcome of {@link runOnTap}. */
export interface TapRun {
  /** The command's exit status was 0. */
  readonly success: boolean;
  /** Everything the relay and the command wrote to stdout and stderr. */
  readonly log: string;
  /** True when the namespace or TAP could not be made here (the caller should skip). */
  readonly unsupported: boolean;
}

/**
 * Runs `command` (sh syntax) in a fresh network namespace whose eth0 is a
 * TAP wired to the stack that `makeStack` builds around the given `send`.
 * The stack is closed when the command exits.
 */
export async function runOnTap(
  command: string,
  makeStack: (send: (frame: Uint8Array) => void) => NetworkStack,
  mtu = 1500,
): Promise<TapRun> {
  const child = new Deno.Command("unshare", {
    args: ["-rn", "python3", "-c", RELAY, command, String(mtu)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const stack = makeStack((frame) => {
    const msg = new Uint8Array(4 + frame.length);
    new DataView(msg.buffer).setUint32(0, frame.length);
    msg.set(frame, 4);
    writer.write(msg).catch(() => {});
  });
  const stderr = new Response(child.stderr).text();
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    clearTimeout(timer);
    const at = stack.pollAt();
    if (at === undefined) return;
    timer = setTimeout(() => {
      stack.poll(performance.now() - t0);
      schedule();
    }, Math.max(0, at - (performance.now() - t0)));
  };
  let buf = new Uint8Array(0);
  for await (const chunk of child.stdout) {
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    let i = 0;
    while (i + 4 <= joined.length) {
      const n = new DataView(joined.buffer, i).getUint32(0);
      if (i + 4 + n > joined.length) break;
      stack.receive(joined.subarray(i + 4, i + 4 + n), performance.now() - t0);
      i += 4 + n;
    }
    buf = joined.slice(i);
    schedule();
  }
  clearTimeout(timer);
  const status = await child.status;
  await writer.close().catch(() => {});
  const log = await stderr;
  stack.close();
  const unsupported = !status.success &&
    /Operation not permitted|Permission denied|No such device|unshare failed/.test(log);
  return { success: status.success, log, unsupported };
}
