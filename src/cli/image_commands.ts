// The image and container-record commands: pull, images, rmi, prune, extract, ps, rm (and __extract)
//
// Extraction keeps the archive's owners only as root of a user namespace whose ids map onto
// the user's subordinate range. So for an unprivileged user, `pull` runs one fresh copy of
// itself there for the whole pull (download, verification and unpacking in one process:
// the network is the host's, only the user namespace is new), started by
// `spawnInUserNamespace` without forking this process; where unshare(1) is missing or
// fails, this process re-executes itself single-threaded and forks into the namespace
// instead. `extract` runs a fresh copy of paranoid there too (`runInUserNamespace` with the
// hidden `__extract` command), and trees that may hold files of subordinate ids are removed
// there when a plain removal is refused. Those need this process single-threaded (fork), so
// they re-execute themselves with the V8 flag first. Root extracts in place.
// PARANOID_NO_USERNS=1 turns the user namespace off: extraction then runs as the calling
// user, without ownership.

import {
  type OptionDef,
  parseOptions,
  type ParseResult,
  stringOption,
  UsageError,
} from "./args.ts";
import { ContainerRecordError, ContainerRegistry } from "./containers.ts";
import { formatSize, PullDisplay } from "./progress.ts";
import { ImageRunError } from "./image_run.ts";
import { ImageReferenceError, parseReference } from "../image/reference.ts";
import { decompress, TarError } from "../image/tar.ts";
import {
  describeResult,
  type ExtractOptions,
  type ExtractResult,
  extractTar,
  unpackLayer,
  UnsafeEntryError,
  type WhiteoutMode,
} from "../image/extract.ts";
import { ManifestError, parsePlatform } from "../image/manifest.ts";
import { DigestMismatchError, RegistryError } from "../image/registry.ts";
import {
  defaultStoreRoot,
  ImageNotFoundError,
  ImageStore,
  type StoreOptions,
} from "../image/store.ts";
import { runInUserNamespace, spawnInUserNamespace } from "../container/userns_exec.ts";
import {
  ensureSingleThreaded,
  SINGLE_THREADED_FLAG,
  singleThreadedCommand,
} from "../container/single_thread.ts";

/** Prints a one-line error prefixed with the program name. */
function fail(message: string): void {
  console.error(`paranoid: ${message}`);
}

const HELP_OPTION: OptionDef = { long: "help", help: "show this help" };

/** Parses a command's options; a mistake is printed with the usage line. */
function parse(
  argv: readonly string[],
  defs: readonly OptionDef[],
  usage: string,
  positional: { min: number; max: number },
): ParseResult | number {
  let parsed: ParseResult;
  try {
    parsed = parseOptions(argv, [...defs, HELP_OPTION]);
  } catch (e) {
    if (e instanceof UsageError) {
      fail(`${e.message}\nUsage: ${usage}`);
      return 2;
    }
    throw e;
  }
  if (parsed.options.has("help")) {
    console.log(`Usage: ${usage}`);
    return 0;
  }
  const n = parsed.rest.length;
  if (n < positional.min || n > positional.max) {
    fail(`${n < positional.min ? "missing" : "too many"} arguments\nUsage: ${usage}`);
    return 2;
  }
  return parsed;
}

/** Turns an error the user can act on into one line; other errors propagate. */
export function describeError(e: unknown, reference?: string): string | null {
  if (e instanceof RegistryError) {
    if (e.status === 404 && reference !== undefined && e.message.startsWith("Manifest")) {
      const ref = parseReference(reference);
      return `Image "${ref}" was not found on registry "${ref.registry}"`;
    }
    const m = /^Cannot reach "([^"]+)"/.exec(e.message);
    if (m) {
      const cause = e.cause instanceof Error ? e.cause.message : String(e.cause);
      const last = cause.split(": ").at(-1) ?? cause;
      return `Cannot reach registry "${m[1]}": ${last}`;
    }
    return e.message.split("\n")[0]!;
  }
  if (
    e instanceof DigestMismatchError || e instanceof ImageReferenceError ||
    e instanceof ManifestError || e instanceof ImageNotFoundError ||
    e instanceof UnsafeEntryError || e instanceof TarError ||
    e instanceof ContainerRecordError || e instanceof ImageRunError
  ) {
    return e.message;
  }
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
    return (e as Error).message;
  }
  return null;
}

/** Runs `fn`, printing a known error as one line with exit status 1. */
async function guarded(fn: () => Promise<number>, reference?: string): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    const line = describeError(e, reference);
    if (line === null) throw e;
    fail(line);
    return 1;
  }
}

/** True when extraction should run as root of a user namespace. */
function useUserNamespace(): boolean {
  return Deno.uid() !== 0 && Deno.env.get("PARANOID_NO_USERNS") !== "1";
}

/** Marks the copy of `pull` that runs as root of the user namespace. */
const IN_USERNS = "PARANOID_PULL_IN_USERNS";

/** This program with `args`, V8 left multi-threaded (the copy never forks). */
function selfCommand(args: readonly string[]): string[] {
  return singleThreadedCommand(args).filter((a) => a !== `--v8-flags=${SINGLE_THREADED_FLAG}`);
}

/** The environment for the copy of `pull` in the user namespace. */
function pullEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  if (env.DENO_V8_FLAGS === SINGLE_THREADED_FLAG) delete env.DENO_V8_FLAGS;
  delete env.PARANOID_REEXEC;
  env[IN_USERNS] = "1";
  return env;
}

/**
 * Runs `paranoid pull ARGV` as root of a user namespace: without forking when unshare(1)
 * works, else (after re-executing this process single-threaded) by forking; the exit status.
 */
async function pullInUserNamespace(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  const env = pullEnv();
  const code = await spawnInUserNamespace(selfCommand(["pull", ...argv]), { env });
  if (code !== null) return code;
  ensureSingleThreaded(reexec);
  return await runInUserNamespace(selfCommand(["pull", ...argv]), { env });
}

/**
 * For `run IMAGE`: pulls a missing image the way `pull` does (one copy of paranoid as root of a
 * user namespace, unpacking while downloading), its messages on stderr. Returns null when
 * there is nothing to do or that way is unavailable (the run then pulls in-process, layer by
 * layer), else the pull's exit status (its failure already said in one sentence).
 */
export async function pullMissingForRun(reference: string): Promise<number | null> {
  if (!useUserNamespace() || Deno.env.get(IN_USERNS) === "1") return null;
  try {
    await openImageStore().resolve(reference);
    return null; // stored already
  } catch (e) {
    if (!(e instanceof ImageNotFoundError)) return null; // the run reports it
  }
  const code = await spawnInUserNamespace(selfCommand(["pull", reference]), {
    env: pullEnv(),
    stdoutTo: "stderr",
  });
  // The image could not be had: the pull said why; for `run` that is a set-up failure.
  return code === 0 ? null : 125;
}

/** Runs `paranoid __extract ARGS` inside a user namespace; returns its exit status. */
async function extractInUserNamespace(args: readonly string[]): Promise<number> {
  return await runInUserNamespace(singleThreadedCommand(["__extract", ...args]));
}

/**
 * Copies an image's layers, bottom first, into `dir` with their whiteouts
 * applied: the root for a container where the kernel refuses an overlay. Runs
 * in a user namespace (unless root) so that owners survive.
 */
export async function copyImageRoot(layerBlobs: readonly string[], dir: string): Promise<void> {
  for (const blob of layerBlobs) {
    const code = useUserNamespace()
      ? await extractInUserNamespace(["--apply", blob, dir])
      : await extractHere(blob, dir, { whiteouts: "apply", chown: true }, undefined, true);
    if (code !== 0) throw new Error(`Copying layer "${blob}" into "${dir}" failed (exit ${code})`);
  }
}

/** Removes a tree; when refused (files of subordinate ids), removes it in a user namespace. */
async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    if (!(e instanceof Deno.errors.PermissionDenied) || !useUserNamespace()) throw e;
    const code = await runInUserNamespace(["/bin/rm", "-rf", "--", path]);
    if (code !== 0) {
      throw new Error(`Cannot remove "${path}": "rm -rf" in a user namespace exited with ${code}`);
    }
  }
}

/** Store options for this process: layers unpack in a user namespace when not root. */
function storeOptions(registry: StoreOptions["registry"]): StoreOptions {
  const opts: StoreOptions = { removeTree };
  if (registry !== undefined) opts.registry = registry;
  if (useUserNamespace()) {
    opts.unpack = async (blob, dir) => {
      const resultFile = await Deno.makeTempFile({ prefix: "paranoid-unpack-" });
      try {
        const code = await extractInUserNamespace(["--layer", "--result", resultFile, blob, dir]);
        if (code !== 0) {
          throw new Error(`Unpacking layer "${blob}" in a user namespace failed (exit ${code})`);
        }
        return JSON.parse(await Deno.readTextFile(resultFile)) as ExtractResult;
      } finally {
        await Deno.remove(resultFile).catch(() => {});
      }
    };
  }
  return opts;
}

/** The data root shared by the store and the container records. */
function dataRoot(): string {
  return defaultStoreRoot();
}

/**
 * The image store of this user as the CLI opens it: layers unpack as root of a user
 * namespace (unless running as root), and trees refused to a plain removal are removed there.
 * A process that pulls through it must be single-threaded (`ensureSingleThreaded`) first.
 */
export function openImageStore(registry?: StoreOptions["registry"]): ImageStore {
  return new ImageStore(dataRoot(), storeOptions(registry));
}

/** The container records beside the store. */
export function containerRegistry(root: string = dataRoot()): ContainerRegistry {
  return new ContainerRegistry(`${root}/containers`, { removeTree });
}

const PULL_USAGE = "paranoid pull [--platform=OS/ARCH[/VARIANT]] [--insecure] REF";
const PULL_OPTIONS: OptionDef[] = [
  { long: "platform", value: "OS/ARCH", help: "platform to pull from a multi-platform image" },
  { long: "insecure", help: "talk plain HTTP to this registry" },
];

/** `paranoid pull [--platform P] [--insecure] REF`. */
export async function pullCommand(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  const p = parse(argv, PULL_OPTIONS, PULL_USAGE, { min: 1, max: 1 });
  if (typeof p === "number") return p;
  const reference = p.rest[0]!;
  return await guarded(async () => {
    const ref = parseReference(reference);
    const platformText = stringOption(p.options, "platform");
    let platform;
    try {
      platform = platformText === undefined ? undefined : parsePlatform(platformText);
    } catch (e) {
      fail(`invalid value for "--platform": ${(e as Error).message}`);
      return 2;
    }
    if (useUserNamespace()) {
      if (Deno.env.get(IN_USERNS) === "1") {
        throw new Error("pull: the user namespace did not map this process to root");
      }
      return await pullInUserNamespace(argv, reexec);
    }
    const store = openImageStore(
      p.options.has("insecure") ? { insecure: [ref.registry] } : undefined,
    );
    const display = new PullDisplay(Deno.stderr, Deno.stderr.isTerminal());
    try {
      const result = await store.pull(ref, {
        ...(platform ? { platform } : {}),
        onProgress: (e) => display.update(e),
      });
      display.finish();
      for (const note of result.notes) console.error(`paranoid: ${note}`);
      console.log(`pulled ${result.record.reference} (${result.record.manifestDigest})`);
      return 0;
    } catch (e) {
      display.finish();
      throw e;
    }
  }, reference);
}

/** "3 minutes ago" from an ISO date. */
export function ago(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "unknown";
  const s = Math.max(0, Math.round((now - t) / 1000));
  const units: [number, string][] = [
    [365 * 86400, "year"],
    [30 * 86400, "month"],
    [7 * 86400, "week"],
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    const n = Math.floor(s / size);
    if (n >= 1) return `${n} ${name}${n === 1 ? "" : "s"} ago`;
  }
  return s < 2 ? "just now" : `${s} seconds ago`;
}

/** Lays out rows as left-aligned columns separated by three spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, c.length));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("   ").trimEnd()
  ).join("\n");
}

/** `paranoid images`. */
export async function imagesCommand(argv: readonly string[]): Promise<number> {
  const p = parse(argv, [], "paranoid images", { min: 0, max: 0 });
  if (typeof p === "number") return p;
  return await guarded(async () => {
    const store = new ImageStore(dataRoot());
    const rows: string[][] = [["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"]];
    for (const record of await store.images()) {
      const ref = parseReference(record.reference);
      let created = record.pulledAt;
      try {
        const image = await store.resolve(record.reference);
        if (typeof image.imageConfig.created === "string") created = image.imageConfig.created;
      } catch {
        // a damaged entry still lists, with its pull time
      }
      rows.push([
        ref.name,
        ref.tag ?? "<none>",
        record.manifestDigest.slice(7, 19),
        formatSize(record.size),
        ago(created),
      ]);
    }
    console.log(table(rows));
    return 0;
  });
}

/** `paranoid rmi REF...`: removes images from the index; `prune` frees their space. */
export async function rmiCommand(argv: readonly string[]): Promise<number> {
  const p = parse(argv, [], "paranoid rmi REF...", { min: 1, max: Infinity });
  if (typeof p === "number") return p;
  const store = new ImageStore(dataRoot());
  let status = 0;
  for (const reference of p.rest) {
    status = Math.max(
      status,
      await guarded(async () => {
        const record = await store.remove(reference);
        console.log(`removed ${record.reference}`);
        return 0;
      }),
    );
  }
  return status;
}

/** `paranoid prune`: exited containers' records, then unreferenced blobs and layers. */
export async function pruneCommand(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  const p = parse(argv, [], "paranoid prune", { min: 0, max: 0 });
  if (typeof p === "number") return p;
  return await guarded(async () => {
    if (useUserNamespace()) ensureSingleThreaded(reexec);
    const root = dataRoot();
    const containers = containerRegistry(root);
    const removed = await containers.pruneExited();
    const store = openImageStore();
    const { blobs, layers } = await store.prune({ keep: await containers.layersInUse() });
    console.log(
      `removed ${removed.length} container(s), ${blobs} blob(s) and ${layers} layer(s)`,
    );
    return 0;
  });
}

const EXTRACT_USAGE = "paranoid extract TARBALL|- DIR";

/** `paranoid extract TARBALL DIR`: gzip, zstd or plain tar; `-` reads stdin. */
export async function extractCommand(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  const p = parse(argv, [], EXTRACT_USAGE, { min: 2, max: 2 });
  if (typeof p === "number") return p;
  const [source, target] = p.rest as [string, string];
  if (useUserNamespace()) {
    ensureSingleThreaded(reexec);
    // The child resolves paths against its own cwd, which is ours; make them absolute anyway.
    const abs = (x: string) => (x === "-" || x.startsWith("/") ? x : `${Deno.cwd()}/${x}`);
    return await extractInUserNamespace([abs(source), abs(target)]);
  }
  return await extractHere(source, target, { whiteouts: "keep", chown: Deno.uid() === 0 });
}

/** Extracts in this process and prints the summary; the exit status. */
async function extractHere(
  source: string,
  target: string,
  opts: ExtractOptions,
  resultFile?: string,
  layer = false,
): Promise<number> {
  return await guarded(async () => {
    let result: ExtractResult;
    if (layer) {
      result = await unpackLayer(source, target, opts);
    } else {
      const input = source === "-" ? Deno.stdin.readable : (await Deno.open(source)).readable;
      result = await extractTar(await decompress(input), target, opts);
    }
    if (resultFile !== undefined) {
      await Deno.writeTextFile(resultFile, JSON.stringify(result));
    } else {
      const note = describeResult(result);
      console.error(
        `extracted ${result.written} entries into "${target}"${note ? `: ${note}` : ""}`,
      );
    }
    return 0;
  });
}

const INNER_EXTRACT_OPTIONS: OptionDef[] = [
  { long: "layer", help: "an OCI layer: overlay whiteouts" },
  { long: "apply", help: "an OCI layer applied onto DIR: whiteouts delete what they hide" },
  { long: "result", value: "FILE", help: "write the result as JSON here instead of a summary" },
];

/** The hidden `__extract [--layer] [--result FILE] SRC DIR`, run as root of a user namespace. */
export async function innerExtractCommand(argv: readonly string[]): Promise<number> {
  const p = parse(argv, INNER_EXTRACT_OPTIONS, "paranoid __extract SRC DIR", { min: 2, max: 2 });
  if (typeof p === "number") return p;
  const [source, target] = p.rest as [string, string];
  const apply = p.options.has("apply");
  const layer = p.options.has("layer") || apply;
  const whiteouts: WhiteoutMode = apply ? "apply" : layer ? "overlay" : "keep";
  return await extractHere(
    source,
    target,
    { whiteouts, chown: true },
    stringOption(p.options, "result"),
    layer,
  );
}

const PS_OPTIONS: OptionDef[] = [
  { long: "all", short: "a", help: "show all containers, not only running ones" },
];

/** `paranoid ps [-a]`. */
export async function psCommand(argv: readonly string[]): Promise<number> {
  const p = parse(argv, PS_OPTIONS, "paranoid ps [-a]", { min: 0, max: 0 });
  if (typeof p === "number") return p;
  return await guarded(async () => {
    const all = p.options.has("all");
    const rows: string[][] = [["CONTAINER ID", "NAME", "IMAGE", "COMMAND", "CREATED", "STATUS"]];
    for (const r of await containerRegistry().list()) {
      if (!all && r.status !== "running") continue;
      const command = r.command.join(" ");
      const status = r.status === "running"
        ? `running (pid ${r.pid})`
        : r.status === "created"
        ? "created"
        : `exited (${r.exitCode ?? "?"})${r.finished ? ` ${ago(r.finished)}` : ""}`;
      rows.push([
        r.id.slice(0, 12),
        r.name,
        r.image,
        JSON.stringify(command.length > 30 ? command.slice(0, 29) + "…" : command),
        ago(r.created),
        status,
      ]);
    }
    console.log(table(rows));
    return 0;
  });
}

const RM_OPTIONS: OptionDef[] = [
  { long: "force", short: "f", help: "kill a running container first" },
];

/** `paranoid rm [-f] NAME...`. */
export async function rmCommand(
  argv: readonly string[],
  reexec: readonly string[],
): Promise<number> {
  const p = parse(argv, RM_OPTIONS, "paranoid rm [-f] NAME|ID...", { min: 1, max: Infinity });
  if (typeof p === "number") return p;
  if (useUserNamespace()) ensureSingleThreaded(reexec);
  const containers = containerRegistry();
  let status = 0;
  for (const name of p.rest) {
    status = Math.max(
      status,
      await guarded(async () => {
        await containers.remove(name, { force: p.options.has("force") });
        console.log(name);
        return 0;
      }),
    );
  }
  return status;
}
