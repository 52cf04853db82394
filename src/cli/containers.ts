// Container records for `ps` and `rm`: one directory per container under the data root
//
// Layout under `$XDG_DATA_HOME/paranoid/containers`:
//
//   ID/state.json   the record (replaced by rename, so always whole)
//   ID/upper        the overlay's writable layer, ID/work its work dir, ID/rootfs the mount point
//   names/NAME      a symlink to ID; creating it is what claims the name (symlink(2) fails
//                   when it exists), so two runs can never get the same name
//
// A record says "running" with the pid and that process's start time (field 22 of
// /proc/PID/stat), so a pid reused by another process is not mistaken for the container.
// A record whose process is gone reads as "exited" with no exit code; a "created" record
// whose creating paranoid process is gone reads the same way.

import { defaultStoreRoot } from "../image/store.ts";

/** A mistake about a container the user can fix: duplicate name, unknown name, running. */
export class ContainerRecordError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ContainerRecordError";
  }
}

/** The life of a container as recorded. */
export type ContainerStatus = "created" | "running" | "exited";

/** What state.json holds. */
export interface ContainerRecord {
  /** 32 hex digits; `ps` shows the first 12. */
  id: string;
  /** Unique name, given or generated. */
  name: string;
  /** The image reference it runs. */
  image: string;
  /** INIT and its arguments. */
  command: string[];
  /** When it was created (ISO 8601). */
  created: string;
  /** Status as last written (see {@link ContainerRegistry.list} for the live view). */
  status: ContainerStatus;
  /** INIT's host pid while running. */
  pid: number | null;
  /** Start time of `pid` in clock ticks since boot, to detect pid reuse. */
  pidStart: number | null;
  /** The paranoid process that created the record, and its start time. */
  owner: { pid: number; start: number | null };
  /** Exit code once exited (128+N for signal N); null when unknown. */
  exitCode: number | null;
  /** When it exited (ISO 8601). */
  finished: string | null;
  /** Layer digests of the image, kept by `prune` while the container exists. */
  layers: string[];
}

/** Options for {@link ContainerRegistry}. */
export interface ContainerRegistryOptions {
  /** Removes a directory tree; default `Deno.remove` recursive. A user-namespace remover
   * is needed for upper dirs holding files of subordinate ids. */
  removeTree?: (path: string) => Promise<void>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const ADJECTIVES = [
  "calm",
  "eager",
  "fuzzy",
  "gentle",
  "hidden",
  "jolly",
  "keen",
  "lucid",
  "mellow",
  "nimble",
  "quiet",
  "rapid",
  "sober",
  "tidy",
  "vivid",
  "wary",
];
const NOUNS = [
  "badger",
  "cricket",
  "dolphin",
  "falcon",
  "gecko",
  "heron",
  "ibis",
  "lynx",
  "marten",
  "otter",
  "puffin",
  "raven",
  "stoat",
  "tapir",
  "walrus",
  "yak",
];

/** Start time (clock ticks since boot) of a live process, or null when it does not exist. */
export function processStartTime(pid: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name is in parentheses and may contain anything: count fields after ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  if (state === "Z" || state === "X") return null;
  const start = Number(fields[19]); // field 22 overall
  return Number.isFinite(start) ? start : null;
}

function alive(pid: number | null, start: number | null): boolean {
  if (pid === null) return false;
  const now = processStartTime(pid);
  return now !== null && (start === null || now === start);
}

function pick<T>(list: readonly T[]): T {
  const i = crypto.getRandomValues(new Uint32Array(1))[0]! % list.length;
  return list[i]!;
}

/**
 * The container records of one user.
 *
 * @example
 * ```ts ignore
 * import { ContainerRegistry } from "./containers.ts";
 * const reg = new ContainerRegistry();
 * const rec = await reg.create(undefined, "alpine", ["/bin/sh"]);
 * await reg.markRunning(rec.id, 12345);
 * await reg.markExited(rec.id, 0);
 * console.log((await reg.list()).map((r) => r.name));
 * ```
 */
export class ContainerRegistry {
  /** The `containers` directory. */
  readonly root: string;
  readonly #removeTree: (path: string) => Promise<void>;

  /** Opens the registry at `root` (default `$XDG_DATA_HOME/paranoid/containers`). */
  constructor(
    root: string = `${defaultStoreRoot()}/containers`,
    opts: ContainerRegistryOptions = {},
  ) {
    this.root = root;
    this.#removeTree = opts.removeTree ?? ((p) => Deno.remove(p, { recursive: true }));
  }

  /** The directory of a container: state.json, upper, work and rootfs live here. */
  dir(id: string): string {
    return `${this.root}/${id}`;
  }

  async #write(record: ContainerRecord): Promise<void> {
    const dir = this.dir(record.id);
    const tmp = `${dir}/.state-${crypto.randomUUID().slice(0, 8)}.json`;
    await Deno.writeTextFile(tmp, JSON.stringify(record, null, 2) + "\n");
    await Deno.rename(tmp, `${dir}/state.json`);
  }

  async #read(id: string): Promise<ContainerRecord | null> {
    try {
      return JSON.parse(await Deno.readTextFile(`${this.dir(id)}/state.json`)) as ContainerRecord;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return null;
      throw e;
    }
  }

  /** Claims `name` for `id`; false when taken. */
  async #claim(name: string, id: string): Promise<boolean> {
    try {
      await Deno.symlink(id, `${this.root}/names/${name}`);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      throw e;
    }
  }

  /**
   * Creates a record with a fresh id and a unique name (generated when `name` is undefined),
   * status "created", and its directory with empty `upper`, `work` and `rootfs`.
   *
   * @throws {ContainerRecordError} when `name` is invalid or already taken
   */
  async create(
    name: string | undefined,
    image: string,
    argv: readonly string[],
    layers: readonly string[] = [],
  ): Promise<ContainerRecord> {
    if (name !== undefined && !NAME.test(name)) {
      throw new ContainerRecordError(
        `Invalid container name "${name}": use letters, digits, "_", "." and "-"`,
      );
    }
    await Deno.mkdir(`${this.root}/names`, { recursive: true });
    const id = crypto.randomUUID().replaceAll("-", "");
    let chosen: string | undefined;
    if (name !== undefined) {
      if (!(await this.#claim(name, id))) {
        throw new ContainerRecordError(
          `Container name "${name}" is already in use: remove it with "paranoid rm ${name}" or choose another`,
        );
      }
      chosen = name;
    } else {
      for (let i = 0; i < 20 && chosen === undefined; i++) {
        const candidate = `${pick(ADJECTIVES)}_${pick(NOUNS)}${
          i >= 10 ? `_${id.slice(0, 4)}` : ""
        }`;
        if (await this.#claim(candidate, id)) chosen = candidate;
      }
      if (chosen === undefined) {
        chosen = `c_${id.slice(0, 12)}`;
        await this.#claim(chosen, id);
      }
    }
    const dir = this.dir(id);
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      for (const sub of ["upper", "work", "rootfs"]) await Deno.mkdir(`${dir}/${sub}`);
      const record: ContainerRecord = {
        id,
        name: chosen,
        image,
        command: [...argv],
        created: new Date().toISOString(),
        status: "created",
        pid: null,
        pidStart: null,
        owner: { pid: Deno.pid, start: processStartTime(Deno.pid) },
        exitCode: null,
        finished: null,
        layers: [...layers],
      };
      await this.#write(record);
      return record;
    } catch (e) {
      await Deno.remove(`${this.root}/names/${chosen}`).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  async #update(id: string, change: (r: ContainerRecord) => void): Promise<ContainerRecord> {
    const record = await this.#read(id);
    if (!record) throw new ContainerRecordError(`No container with id "${id}"`);
    change(record);
    await this.#write(record);
    return record;
  }

  /** Records that INIT runs as host process `pid`. */
  markRunning(id: string, pid: number): Promise<ContainerRecord> {
    return this.#update(id, (r) => {
      r.status = "running";
      r.pid = pid;
      r.pidStart = processStartTime(pid);
    });
  }

  /** Records INIT's exit status (128+N for a signal). */
  markExited(id: string, code: number): Promise<ContainerRecord> {
    return this.#update(id, (r) => {
      r.status = "exited";
      r.exitCode = code;
      r.finished = new Date().toISOString();
    });
  }

  /** The record as it is now: "running" or "created" whose process is gone reads "exited". */
  #live(r: ContainerRecord): ContainerRecord {
    if (r.status === "running" && !alive(r.pid, r.pidStart)) {
      return { ...r, status: "exited" };
    }
    if (r.status === "created" && !alive(r.owner.pid, r.owner.start)) {
      return { ...r, status: "exited" };
    }
    return r;
  }

  /** All records, oldest first, with the live status. */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    try {
      for await (const e of Deno.readDir(this.root)) {
        if (!e.isDirectory || e.name === "names") continue;
        const r = await this.#read(e.name);
        if (r) out.push(this.#live(r));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  /**
   * Finds a record by exact name, full id or unique id prefix.
   *
   * @throws {ContainerRecordError} when none or several match
   */
  async find(nameOrId: string): Promise<ContainerRecord> {
    const all = await this.list();
    const byName = all.find((r) => r.name === nameOrId);
    if (byName) return byName;
    const matches = nameOrId === "" ? [] : all.filter((r) => r.id.startsWith(nameOrId));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new ContainerRecordError(`Container id prefix "${nameOrId}" is ambiguous`);
    }
    throw new ContainerRecordError(`No such container "${nameOrId}"`);
  }

  /**
   * Removes a container's record and directory. A running one is refused unless `force`,
   * which kills its INIT with SIGKILL first.
   *
   * @throws {ContainerRecordError} for an unknown or running container
   */
  async remove(nameOrId: string, opts: { force?: boolean } = {}): Promise<ContainerRecord> {
    const r = await this.find(nameOrId);
    if (r.status !== "exited") {
      if (!opts.force) {
        throw new ContainerRecordError(
          `Container "${r.name}" is ${r.status}: stop it first or use "rm -f"`,
        );
      }
      if (r.status === "running" && r.pid !== null) {
        try {
          Deno.kill(r.pid, "SIGKILL");
        } catch { /* gone meanwhile */ }
        for (let i = 0; i < 100 && alive(r.pid, r.pidStart); i++) {
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    }
    await this.#removeTree(this.dir(r.id));
    await Deno.remove(`${this.root}/names/${r.name}`).catch(() => {});
    return r;
  }

  /** Removes every exited record; returns the names removed. */
  async pruneExited(): Promise<string[]> {
    const removed: string[] = [];
    for (const r of await this.list()) {
      if (r.status !== "exited") continue;
      await this.#removeTree(this.dir(r.id));
      await Deno.remove(`${this.root}/names/${r.name}`).catch(() => {});
      removed.push(r.name);
    }
    return removed;
  }

  /** Layer digests still needed by records that remain. */
  async layersInUse(): Promise<string[]> {
    return [...new Set((await this.list()).flatMap((r) => r.layers))];
  }
}
