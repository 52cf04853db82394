// The host side of a container terminal: raw mode on the user's terminal, relay both ways, window size.

import { close, ioctl, readAsync, writeAllAsync } from "../../ffi/sys.ts";

const TIOCSWINSZ = 0x5414;

/** Copies the host terminal's size onto the pty master. */
export function copyWindowSize(ptyFd: number): void {
  try {
    const { rows, columns } = Deno.consoleSize();
    const ws = new Uint16Array([rows, columns, 0, 0]);
    ioctl(ptyFd, TIOCSWINSZ, new Uint8Array(ws.buffer), "pty");
  } catch {
    // no terminal on this side
  }
}

/**
 * Relays between the user's stdin/stdout and the container's pty until the
 * container side closes. The host terminal goes raw for the duration and is
 * restored on every way out (the returned promise settles after restoring).
 */
export async function relayTerminal(ptyFd: number): Promise<void> {
  const raw = Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  const onWinch = () => copyWindowSize(ptyFd);
  try {
    Deno.addSignalListener("SIGWINCH", onWinch);
  } catch {
    // signals unavailable
  }
  copyWindowSize(ptyFd);
  let open = true;
  const input = (async () => {
    const buf = new Uint8Array(16384);
    while (open) {
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        n = null;
      }
      if (n === null) {
        // End of a non-terminal stdin: an EOF character ends the line discipline's input.
        if (open) await writeAllAsync(ptyFd, new Uint8Array([4]));
        return;
      }
      if (!open || !(await writeAllAsync(ptyFd, buf.subarray(0, n)))) return;
    }
  })();
  try {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await readAsync(ptyFd, buf);
      if (n <= 0) break;
      await Deno.stdout.write(buf.subarray(0, n));
    }
  } finally {
    open = false;
    try {
      Deno.removeSignalListener("SIGWINCH", onWinch);
    } catch {
      // never added
    }
    if (raw) Deno.stdin.setRaw(false);
    close(ptyFd);
  }
  void input;
}
