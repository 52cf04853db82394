// `paranoid run IMAGE`: turn an image's config and the run options into argv, env, user and an overlay root

import { type ContainerRecord, ContainerRegistry } from "./containers.ts";
import { DEFAULT_PATH } from "../container/process/identity.ts";
import { ImageNotFoundError, type ImageStore, type PullProgress } from "../image/store.ts";
import type { RunConfig } from "../image/manifest.ts";
import type { Platform } from "../image/manifest.ts";

/** An image that cannot be run as asked: no command, unknown user, bad config. */
export class ImageRunError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ImageRunError";
  }
}

/** What `run` asks for beyond the image; every field overrides the image's default. */
export interface ImageRunRequest {
  /** The words after IMAGE (CMD and its arguments); empty to use the image's Cmd. */
  command: readonly string[];
  /** Variables from `-e`/`--env-file`, applied over the image's Env. */
  env?: Readonly<Record<string, string>> | undefined;
  /** `-w`: working directory. */
  cwd?: string | undefined;
  /** `-u`: numeric user and group. */
  user?: { uid: number; gid: number } | undefined;
  /** `--name`; generated when absent. */
  name?: string | undefined;
  /** Platform to pull when the image is missing. */
  platform?: Platform | undefined;
  /** Called with pull progress when the image has to be pulled. */
  onProgress?: ((e: PullProgress) => void) | undefined;
  /** The container registry; default the one beside the store. */
  containers?: ContainerRegistry | undefined;
}

/** Everything the runtime needs to start a container from an image. */
export interface ImageRunPlan {
  /** The normalised image reference. */
  reference: string;
  /** The mount point of the overlay (inside the container's record directory). */
  root: string;
  /** The overlay: image layers top first, and the container's own upper and work dirs. */
  rootOverlay: { lower: string[]; upper: string; work: string };
  /** The layer blobs, bottom first: for a copied root where overlay is refused. */
  layerBlobs: string[];
  /** INIT and its arguments: Entrypoint + (command or Cmd). */
  argv: string[];
  /** Environment: the image's Env, then the request's, PATH defaulted. */
  env: Record<string, string>;
  /** Working directory: `-w`, else WorkingDir, else "/". */
  cwd: string;
  /** Numeric user: `-u`, else the image's User resolved in its /etc/passwd and /etc/group. */
  user: { uid: number; gid: number };
  /** The container record, status "created"; call markRunning and markExited on it. */
  record: ContainerRecord;
  /** True when the image was pulled for this run. */
  pulled: boolean;
}

/** Parses the image's `Env` list into a record (later entries win). */
export function parseImageEnv(list: readonly string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) continue;
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

/** Reads a regular file at `rel` in one layer directory, never following a symlink there. */
async function readLayerFile(
  layer: string,
  rel: string[],
): Promise<{ text: string } | "absent" | "deleted"> {
  let path = layer;
  for (let i = 0; i < rel.length; i++) {
    path += `/${rel[i]}`;
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return "absent";
      throw e;
    }
    // An overlay whiteout (char device) deletes the path for the layers below.
    if (st.isCharDevice) return "deleted";
    const last = i === rel.length - 1;
    if (!last && !st.isDirectory) return st.isSymlink ? "absent" : "deleted";
    if (last) return st.isFile ? { text: await Deno.readTextFile(path) } : "absent";
  }
  return "absent";
}

/** Finds the top-most version of `/etc/NAME` in the layers (top first), or "". */
async function etcFile(layersTopFirst: readonly string[], name: string): Promise<string> {
  for (const layer of layersTopFirst) {
    const r = await readLayerFile(layer, ["etc", name]);
    if (r === "deleted") return "";
    if (r !== "absent") return r.text;
  }
  return "";
}

/**
 * Resolves a Docker `User` value (`uid`, `uid:gid`, `name`, `name:group`, ...) against the
 * image's /etc/passwd and /etc/group, read from the layer directories top first. A numeric
 * uid without a group takes its passwd entry's group, else 0, as Docker does.
 *
 * @throws {ImageRunError} for a name that the image does not define
 */
export async function resolveImageUser(
  spec: string,
  layersTopFirst: readonly string[],
): Promise<{ uid: number; gid: number }> {
  if (spec === "") return { uid: 0, gid: 0 };
  const colon = spec.indexOf(":");
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? undefined : spec.slice(colon + 1);
  const numeric = (s: string) => /^\d+$/.test(s) && Number(s) <= 0xfffffffe;
  let passwd: string[][] | null = null;
  const passwdRows = async () =>
    passwd ??= (await etcFile(layersTopFirst, "passwd")).split("\n").map((l) => l.split(":"));
  let uid: number;
  let primary: number | undefined;
  if (numeric(userPart)) {
    uid = Number(userPart);
    const row = (await passwdRows()).find((f) => f[2] === userPart && numeric(f[3] ?? ""));
    primary = row ? Number(row[3]) : undefined;
  } else {
    const row = (await passwdRows()).find((f) => f[0] === userPart && f.length >= 4);
    if (!row || !numeric(row[2] ?? "") || !numeric(row[3] ?? "")) {
      throw new ImageRunError(
        `User "${userPart}" of "${spec}" is not in the image's /etc/passwd: use a numeric uid`,
      );
    }
    uid = Number(row[2]);
    primary = Number(row[3]);
  }
  let gid: number;
  if (groupPart === undefined || groupPart === "") gid = primary ?? 0;
  else if (numeric(groupPart)) gid = Number(groupPart);
  else {
    const rows = (await etcFile(layersTopFirst, "group")).split("\n").map((l) => l.split(":"));
    const row = rows.find((f) => f[0] === groupPart && f.length >= 3);
    if (!row || !numeric(row[2] ?? "")) {
      throw new ImageRunError(
        `Group "${groupPart}" of "${spec}" is not in the image's /etc/group: use a numeric gid`,
      );
    }
    gid = Number(row[2]);
  }
  return { uid, gid };
}

/** Entrypoint + (command, or Cmd when the command is empty). */
export function imageArgv(config: RunConfig, command: readonly string[]): string[] {
  const entry = config.Entrypoint ?? [];
  const cmd = command.length > 0 ? [...command] : config.Cmd ?? [];
  return [...entry, ...cmd];
}

/**
 * Prepares `paranoid run IMAGE`: pulls the image when it is not in the store, works out
 * argv, env, cwd and user from its config and the request, and creates the container
 * record whose directory holds the overlay's upper, work and mount point.
 *
 * run.ts is expected to call it after option parsing, then hand `plan.root`,
 * `plan.rootOverlay`, `plan.argv[0]`, `plan.argv.slice(1)`, `plan.env`, `plan.cwd` and
 * `plan.user` to buildSpec, call `containers.markRunning(plan.record.id, pid)` once INIT
 * started and `markExited(plan.record.id, code)` when it ended.
 *
 * @throws {ImageRunError} for an image without a command or with an unknown user
 * @throws {ContainerRecordError} for a duplicate `--name`
 * @example
 * ```ts ignore
 * import { ImageStore } from "../image/store.ts";
 * import { prepareImageRun } from "./image_run.ts";
 * const plan = await prepareImageRun(new ImageStore(), "alpine", { command: ["sh"] });
 * console.log(plan.argv, plan.rootOverlay.lower.length);
 * ```
 */
export async function prepareImageRun(
  store: ImageStore,
  reference: string,
  request: ImageRunRequest,
): Promise<ImageRunPlan> {
  let pulled = false;
  let image;
  try {
    image = await store.resolve(reference);
  } catch (e) {
    if (!(e instanceof ImageNotFoundError)) throw e;
    await store.pull(reference, {
      ...(request.platform ? { platform: request.platform } : {}),
      ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    });
    pulled = true;
    image = await store.resolve(reference);
  }
  const config = image.config;
  const argv = imageArgv(config, request.command);
  if (argv.length === 0) {
    throw new ImageRunError(
      `Image "${image.record.reference}" has no Entrypoint or Cmd: give a command after "--"`,
    );
  }
  const lower = [...image.layerDirs].reverse();
  const env = { ...parseImageEnv(config.Env), ...(request.env ?? {}) };
  if (env.PATH === undefined) env.PATH = DEFAULT_PATH;
  const workdir = config.WorkingDir;
  const cwd = request.cwd ?? (workdir && workdir.startsWith("/") ? workdir : "/");
  const user = request.user ?? await resolveImageUser(config.User ?? "", lower);
  const containers = request.containers ?? new ContainerRegistry(`${store.root}/containers`);
  const record = await containers.create(
    request.name,
    image.record.reference,
    argv,
    image.record.layers,
  );
  const dir = containers.dir(record.id);
  return {
    reference: image.record.reference,
    root: `${dir}/rootfs`,
    rootOverlay: { lower, upper: `${dir}/upper`, work: `${dir}/work` },
    layerBlobs: image.layerBlobs,
    argv,
    env,
    cwd,
    user,
    record,
    pulled,
  };
}
