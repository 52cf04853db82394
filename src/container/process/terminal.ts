// A terminal inside the container for INIT or an exec'd program: a pty pair from the container's devpts, the master sent to the host side.

import { close, dup2, ioctl, O, open } from "../../../ffi/sys.ts";
import { setsid } from "../../../ffi/process.ts";
import { send } from "./messages.ts";

const TIOCSCTTY = 0x540e;
const TIOCSWINSZ = 0x5414;
const TIOCGPTN = 0x80045430;
const TIOCSPTLCK = 0x40045431;

/** A terminal size in character cells. */
export interface WindowSize {
  readonly rows: number;
  readonly columns: number;
}

/**
 * Opens a pty pair in the container's /dev/pts (the caller is in the container's mount
 * namespace), sends the master to the host side over `sock` (a "pty" message), and makes the
 * slave the calling process's controlling terminal and its stdin, stdout and stderr, in a new
 * session. Synchronous, for a forked child; throws SyscallError naming the path.
 */
export function attachContainerTerminal(sock: number, size: WindowSize | null): void {
  const master = open("/dev/pts/ptmx", O.RDWR | O.NOCTTY | O.CLOEXEC);
  const unlock = new Int32Array([0]);
  ioctl(master, TIOCSPTLCK, new Uint8Array(unlock.buffer), "/dev/pts/ptmx");
  const number = new Int32Array(1);
  ioctl(master, TIOCGPTN, new Uint8Array(number.buffer), "/dev/pts/ptmx");
  const slavePath = `/dev/pts/${number[0]}`;
  const slave = open(slavePath, O.RDWR | O.NOCTTY);
  if (size !== null) {
    const ws = new Uint16Array([size.rows, size.columns, 0, 0]);
    ioctl(slave, TIOCSWINSZ, new Uint8Array(ws.buffer), slavePath);
  }
  send(sock, { t: "pty" }, [master]);
  close(master);
  setsid();
  ioctl(slave, TIOCSCTTY, new Uint8Array(8), slavePath);
  for (const fd of [0, 1, 2]) dup2(slave, fd);
  if (slave > 2) close(slave);
}
