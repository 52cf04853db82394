// `--console-socket`: hand the pty master to whoever listens on a unix socket, by SCM_RIGHTS, as runc does.
//
// Deno can connect a SOCK_STREAM unix socket but not send descriptors over it,
// and ffi/ has no connect(2) yet. So the socket is connected with
// Deno.connect, its descriptor is found as the one new "socket:[...]" entry of
// /proc/self/fd, and the master is sent with sendmsg(2) from ffi/sys.ts.
// Limit: SOCK_SEQPACKET listeners (conmon's) refuse a stream connection.

import { sendMessage } from "../../ffi/sys.ts";

/** The socket cannot take the terminal; the message names the socket. */
export class ConsoleSocketError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConsoleSocketError";
  }
}

function socketDescriptors(): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      const link = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
      if (link.startsWith("socket:")) m.set(e.name, link);
    } catch {
      // the listing's own descriptor, or closed meanwhile
    }
  }
  return m;
}

/** Connects to the console socket at `path` and sends `ptyFd` with the pty's name as payload. */
export async function sendConsole(path: string, ptyFd: number): Promise<void> {
  const before = socketDescriptors();
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    throw new ConsoleSocketError(
      `cannot connect to the console socket "${path}": ${(e as Error).message}`,
    );
  }
  try {
    const fresh = [...socketDescriptors()].filter(([fd, link]) => before.get(fd) !== link);
    if (fresh.length !== 1) {
      throw new ConsoleSocketError(
        `cannot find the descriptor of the console socket "${path}" connection`,
      );
    }
    sendMessage(Number(fresh[0]![0]), new TextEncoder().encode("/dev/pts/ptmx"), [ptyFd]);
  } finally {
    conn.close();
  }
}
