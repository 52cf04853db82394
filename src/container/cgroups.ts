// Resource limits through cgroup v2, where the user has a delegated subtree; otherwise a clear refusal.
//
// A rootless process may only limit resources inside a cgroup v2 subtree that
// was delegated to it (systemd does this for user sessions: `systemd-run
// --user --scope -p Delegate=yes`). paranoid finds its own cgroup from
// /proc/self/cgroup, checks that the unified hierarchy is mounted, that the
// cgroup is writable by the user and that the controllers it needs are
// enabled for children, then makes a child cgroup per container, writes the
// limits and moves the container's first process into it before INIT starts.
// Where any of that is missing, the flag is refused, never silently ignored.

/** The limits a user can ask for. */
export interface ResourceLimits {
  /** memory.max in bytes. */
  readonly memoryBytes?: number;
  /** CPUs, as in `docker run --cpus`: 1.5 means 150 ms per 100 ms. */
  readonly cpus?: number;
  /** pids.max. */
  readonly pids?: number;
}

/** A limit that cannot be applied on this machine; the message says what is missing and how to delegate. */
export class CgroupUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CgroupUnavailableError";
  }
}

const DELEGATE_HINT =
  "run paranoid inside a delegated cgroup v2 subtree, e.g. systemd-run --user --scope -p Delegate=yes paranoid ..., on a machine booted with the unified cgroup hierarchy (systemd.unified_cgroup_hierarchy=1)";

/** The controllers each limit needs. */
function controllersFor(limits: ResourceLimits): string[] {
  const c: string[] = [];
  if (limits.memoryBytes !== undefined) c.push("memory");
  if (limits.cpus !== undefined) c.push("cpu");
  if (limits.pids !== undefined) c.push("pids");
  return c;
}

/** The flags that asked for the limits, for messages. */
function flagsFor(limits: ResourceLimits): string {
  const f: string[] = [];
  if (limits.memoryBytes !== undefined) f.push("--memory");
  if (limits.cpus !== undefined) f.push("--cpus");
  if (limits.pids !== undefined) f.push("--pids-limit");
  return f.join(", ");
}

/** The file system operations the probe needs; a seam for tests. */
export interface CgroupFs {
  readText(path: string): string | null;
  writable(path: string): boolean;
}

const realFs: CgroupFs = {
  readText(path) {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  },
  writable(path) {
    try {
      Deno.writeTextFileSync(path, "", { append: true });
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * Finds the delegated cgroup directory the limits can be applied under, or
 * throws a CgroupUnavailableError that names the flags and the missing piece.
 */
export function findDelegatedCgroup(limits: ResourceLimits, fs: CgroupFs = realFs): string {
  const flags = flagsFor(limits);
  const self = fs.readText("/proc/self/cgroup") ?? "";
  const unified = self.split("\n").find((l) => l.startsWith("0::"));
  const controllers = fs.readText("/sys/fs/cgroup/cgroup.controllers");
  if (unified === undefined || controllers === null) {
    throw new CgroupUnavailableError(
      `${flags} needs cgroup v2, and this machine has no unified cgroup hierarchy at /sys/fs/cgroup (cgroup v1 or hybrid): ${DELEGATE_HINT}`,
    );
  }
  const dir = `/sys/fs/cgroup${unified.slice(3).trim()}`.replace(/\/$/, "");
  if (!fs.writable(`${dir}/cgroup.subtree_control`) || !fs.writable(`${dir}/cgroup.procs`)) {
    throw new CgroupUnavailableError(
      `${flags} needs a cgroup delegated to you, and ${dir} is not writable by this user: ${DELEGATE_HINT}`,
    );
  }
  const enabled = (fs.readText(`${dir}/cgroup.controllers`) ?? "").trim().split(/\s+/);
  const missing = controllersFor(limits).filter((c) => !enabled.includes(c));
  if (missing.length > 0) {
    throw new CgroupUnavailableError(
      `${flags} needs the ${
        missing.join(", ")
      } controller(s), which are not delegated to ${dir}: ${DELEGATE_HINT}`,
    );
  }
  return dir;
}

/** A container's own cgroup; removed with {@link remove}. */
export class ContainerCgroup {
  /** The cgroup directory. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates a child cgroup under the delegated one and writes the limits. */
  static create(limits: ResourceLimits, name: string): ContainerCgroup {
    const parent = findDelegatedCgroup(limits);
    const controllers = controllersFor(limits);
    // A cgroup with processes cannot enable controllers for children: move ours into a leaf first.
    const leaf = `${parent}/paranoid-host-${Deno.pid}`;
    try {
      Deno.mkdirSync(leaf, { recursive: true });
      Deno.writeTextFileSync(`${leaf}/cgroup.procs`, String(Deno.pid));
      Deno.writeTextFileSync(
        `${parent}/cgroup.subtree_control`,
        controllers.map((c) => `+${c}`).join(" "),
      );
    } catch (e) {
      throw new CgroupUnavailableError(
        `cannot enable ${controllers.join(", ")} under ${parent}: ${(e as Error).message}`,
      );
    }
    const path = `${parent}/${name}`;
    Deno.mkdirSync(path);
    if (limits.memoryBytes !== undefined) {
      Deno.writeTextFileSync(`${path}/memory.max`, String(limits.memoryBytes));
    }
    if (limits.cpus !== undefined) {
      Deno.writeTextFileSync(`${path}/cpu.max`, `${Math.round(limits.cpus * 100000)} 100000`);
    }
    if (limits.pids !== undefined) Deno.writeTextFileSync(`${path}/pids.max`, String(limits.pids));
    return new ContainerCgroup(path);
  }

  /** Moves a process (the container's first) into this cgroup. */
  add(pid: number): void {
    Deno.writeTextFileSync(`${this.path}/cgroup.procs`, String(pid));
  }

  /** Removes the cgroup once its processes are gone. */
  remove(): void {
    try {
      Deno.removeSync(this.path);
    } catch {
      // still busy or already gone
    }
  }
}

/** Parses `--memory` values: bytes, or a number with b, k, m, g (as Docker). */
export function parseMemory(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(text.trim());
  if (!m) return null;
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  const bytes = Math.floor(Number(m[1]) * unit);
  return bytes >= 6 * 1024 * 1024 ? bytes : null;
}
