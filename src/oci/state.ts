// The OCI runtime's state directory: one record per container id, and the live status read from it.
//
// Layout under the state root (`--root`):
//
//   ID/state.json   the record (replaced by rename, so always whole); written by the process that
//                   holds the container (the monitor, or `run`), and removed by `delete`
//   ID/start        the start gate FIFO: INIT waits on it until `start` reads it
//
// Creating the ID directory (mkdir(2) fails when it exists) is what claims an id, so two
// creates can never get the same one. The status a reader sees is the recorded one, corrected
// by what the kernel says: a recorded "created" or "running" container whose INIT pid is gone
// (or was reused: the start time, field 22 of /proc/PID/stat, differs) is "stopped", and a
// "creating" one whose monitor is gone is "stopped" too.

/** The runtime-spec's container statuses. */
export type OciStatus = "creating" | "created" | "running" | "stopped";

/** What ID/state.json holds. */
export interface OciRecord {
  /** The runtime-spec version the state follows. */
  ociVersion: string;
  id: string;
  status: OciStatus;
  /** INIT's host pid once created; 0 before. */
  pid: number;
  /** INIT's start time in clock ticks since boot, to detect pid reuse. */
  pidStart: number | null;
  /** Absolute path of the bundle. */
  bundle: string;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** When create was called (ISO 8601). */
  created: string;
  /** The user that created it, as runc shows it. */
  owner: string;
  annotations: Record<string, string>;
  /** The process holding the container (the monitor or `run`) and its start time. */
  monitor: { pid: number; start: number | null };
  /** INIT's exit status once stopped (128+N for signal N), when known. */
  exitCode: number | null;
  /** The one-sentence reason a create or start failed, for the command that waits on it. */
  error: string | null;
}

/** A mistake about a container id the user can fix: unknown, duplicate, wrong status. */
export class OciStateError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "OciStateError";
  }
}

/** The version of the runtime-spec this runtime's state and config follow. */
export const OCI_VERSION = "1.2.0";

const ID = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

/** The default state root: $XDG_RUNTIME_DIR/paranoid-oci, or /tmp/paranoid-oci-UID. */
export function defaultStateRoot(): string {
  const xdg = Deno.env.get("XDG_RUNTIME_DIR");
  return xdg ? `${xdg}/paranoid-oci` : `/tmp/paranoid-oci-${Deno.uid() ?? 0}`;
}

/** Start time of a process (field 22 of /proc/PID/stat), or null when it is gone. */
export function processStart(pid: number): number | null {
  if (pid <= 0) return null;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = fields[0];
    if (state === "Z" || state === "X") return null;
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

/** True when `pid` is alive and is the process that started at `start` (any, when start is null). */
export function sameProcess(pid: number, start: number | null): boolean {
  const now = processStart(pid);
  return now !== null && (start === null || now === start);
}

/** The state directory of one OCI runtime (`--root`). */
export class StateStore {
  /** The root directory. */
  readonly root: string;
  /** @param root The state root; created (mode 0700) when missing. */
  constructor(root: string) {
    this.root = root;
  }

  /** Checks an id's syntax; throws OciStateError. */
  static checkId(id: string): void {
    if (!ID.test(id)) {
      throw new OciStateError(
        `container id "${id}" is not valid: use letters, digits and _ . + - (not first)`,
      );
    }
  }

  /** The directory of container `id`. */
  dir(id: string): string {
    return `${this.root}/${id}`;
  }

  /** The start gate FIFO of container `id`. */
  gate(id: string): string {
    return `${this.dir(id)}/start`;
  }

  /** Claims `id`; throws OciStateError when it exists. */
  claim(id: string): void {
    StateStore.checkId(id);
    Deno.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      Deno.mkdirSync(this.dir(id), { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new OciStateError(`container "${id}" already exists`);
      }
      throw e;
    }
  }

  /** Writes the record atomically. */
  write(record: OciRecord): void {
    const path = `${this.dir(record.id)}/state.json`;
    const tmp = `${path}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
    Deno.renameSync(tmp, path);
  }

  /** Reads the record as written, or null when there is none. */
  readRaw(id: string): OciRecord | null {
    try {
      return JSON.parse(Deno.readTextFileSync(`${this.dir(id)}/state.json`)) as OciRecord;
    } catch {
      return null;
    }
  }

  /** Reads the record with its live status; throws OciStateError for an unknown id. */
  load(id: string): OciRecord {
    StateStore.checkId(id);
    const r = this.readRaw(id);
    if (r === null) {
      let exists = false;
      try {
        exists = Deno.statSync(this.dir(id)).isDirectory;
      } catch {
        // unknown
      }
      if (!exists) throw new OciStateError(`container "${id}" does not exist`);
      throw new OciStateError(`container "${id}" is being created or deleted`);
    }
    return liveStatus(r);
  }

  /** Every container's record with its live status, by id. */
  list(): OciRecord[] {
    const out: OciRecord[] = [];
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(this.root)];
    } catch {
      return out;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory) continue;
      const r = this.readRaw(e.name);
      if (r !== null) out.push(liveStatus(r));
    }
    return out;
  }

  /** Removes container `id`'s directory. */
  remove(id: string): void {
    Deno.removeSync(this.dir(id), { recursive: true });
  }
}

/** Corrects a record's status with what the kernel says. */
export function liveStatus(r: OciRecord): OciRecord {
  if (r.status === "creating" && !sameProcess(r.monitor.pid, r.monitor.start)) {
    return { ...r, status: "stopped" };
  }
  if ((r.status === "created" || r.status === "running") && !sameProcess(r.pid, r.pidStart)) {
    return { ...r, status: "stopped" };
  }
  return r;
}

/** The runtime-spec's state of a container (runtime.md "State"), plus runc's extra fields. */
export function publicState(r: OciRecord): Record<string, unknown> {
  const state: Record<string, unknown> = {
    ociVersion: r.ociVersion,
    id: r.id,
    status: r.status,
    pid: r.status === "stopped" ? 0 : r.pid,
    bundle: r.bundle,
    rootfs: r.rootfs,
    created: r.created,
    owner: r.owner,
  };
  if (Object.keys(r.annotations).length > 0) state.annotations = r.annotations;
  return state;
}
