// The local image store: content-addressed blobs, shared unpacked layers, an index of images
//
// Theory of operation. Layout under the root (default `$XDG_DATA_HOME/paranoid`):
//
//   blobs/sha256/HEX   manifests, configs and compressed layers, named by their digest
//   layers/HEX         a layer unpacked, named by its (compressed) layer digest, shared
//   index.json         { version, images: { "registry/repo:tag": ImageRecord } }
//   lock               flock(2)ed by pull, remove and prune
//
// Nothing partial is ever visible under a final name: a blob streams into
// `blobs/sha256/.tmp-*` while its digest is checked and is renamed only after the check
// passed; a layer unpacks into `layers/.tmp-*` and is renamed when complete; index.json is
// replaced by rename. So an interrupted pull leaves only `.tmp-*` leftovers (removed by the
// next pull or prune) and complete blobs, and the next pull fetches only what is missing.
//
// With the default unpacker a layer unpacks while it downloads (verified_tee.ts): the body
// is hashed, written to the blob's temp file and inflated into the layer's temp directory
// in one pass, the hashing and the blob's writing on a worker thread (blob_worker.ts),
// started with the pull so that it is ready when the first layer is. Both are renamed only once the whole body matched its digest (blob first, so
// a crash in between leaves a complete blob that the next pull unpacks); on a mismatch, or
// any failure, both temp paths are removed and the error names the digest, also when the
// bad content first broke the unpacking. The config downloads beside the layers.
//
// Locking: `Deno.FsFile.lock()` is flock(2) on `lock` (no FFI needed). The kernel drops it
// when the process dies, so there is no stale lock to detect. Pulls take it exclusively for
// their whole run: concurrent pulls serialise (the second finds the first one's blobs), and
// prune can never delete a blob that a pull has written but not yet indexed. Readers
// (images, resolve) do not lock: index.json is always whole.
//
// Unpacked layers keep whiteouts in overlay form by default (see extract.ts), so that
// `layerDirs` can be given to overlayfs as lower dirs (last one topmost). The unpacker is a
// parameter so the runtime can run `unpackLayer` in a child inside a user namespace.

import {
  describeResult,
  type ExtractOptions,
  type ExtractResult,
  unpackLayer,
  unpackLayerStream,
} from "./extract.ts";
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  type ImageManifest,
  parseConfig,
  parseManifest,
  type Platform,
  type RunConfig,
} from "./manifest.ts";
import { type ImageReference, parseReference } from "./reference.ts";
import {
  DigestMismatchError,
  DigestVerifier,
  RegistryClient,
  type RegistryOptions,
} from "./registry.ts";
import { VerifiedTee } from "./verified_tee.ts";
import { type BlobSink, FileSink } from "./blob_sink.ts";
import { BlobWorker } from "./blob_worker.ts";

/** An image that is not in the store. */
export class ImageNotFoundError extends Error {
  /** The reference asked for. */
  readonly reference: string;
  /** Builds the error. */
  constructor(reference: string) {
    super(`Image "${reference}" is not in the store: pull it first`);
    this.name = "ImageNotFoundError";
    this.reference = reference;
  }
}

/** What the index records for one image. */
export interface ImageRecord {
  /** Normalised reference (`docker.io/library/alpine:latest`). */
  reference: string;
  /** Digest of the image manifest. */
  manifestDigest: string;
  /** Digest of the index it was chosen from, when there was one. */
  indexDigest?: string;
  /** Digest of the config blob. */
  configDigest: string;
  /** Layer digests, lowest first. */
  layers: string[];
  /** Platform as `os/arch[/variant]`. */
  platform: string;
  /** Total compressed size of config and layers in bytes. */
  size: number;
  /** When it was pulled (ISO 8601). */
  pulledAt: string;
}

/** An image ready to run. */
export interface ResolvedImage {
  /** The index record. */
  record: ImageRecord;
  /** The image manifest. */
  manifest: ImageManifest;
  /** The whole image configuration. */
  imageConfig: ImageConfig;
  /** Entrypoint, Cmd, Env, WorkingDir, User and the rest of `config`. */
  config: RunConfig;
  /** Unpacked layer directories, lowest first. */
  layerDirs: string[];
  /** Compressed layer blobs, lowest first (for `unpackLayer` into one merged dir). */
  layerBlobs: string[];
}

/** A step of a pull, for the CLI to render. */
export type PullProgress =
  | { kind: "manifest"; reference: string; digest: string; platform: string }
  | {
    kind: "blob";
    role: "config" | "layer";
    digest: string;
    state: "cached" | "downloading" | "downloaded" | "unpacking" | "done";
    bytes: number;
    total: number;
  };

/** Options for {@link ImageStore.pull}. */
export interface PullOptions {
  /** Platform to pull from an index; default this machine. */
  platform?: Platform;
  /** Called for every step; must not throw. */
  onProgress?: (event: PullProgress) => void;
}

/** What a pull did. */
export interface PullResult {
  /** The index record written. */
  record: ImageRecord;
  /** Blobs downloaded (0 when everything was present). */
  blobsDownloaded: number;
  /** Bytes downloaded for blobs. */
  bytesDownloaded: number;
  /** Layers unpacked by this pull. */
  layersUnpacked: number;
  /** One line per layer with skipped entries or failed chowns (see describeResult). */
  notes: string[];
}

/** Unpacks a layer blob into a directory that does not exist yet. */
export type Unpacker = (blobPath: string, targetDir: string) => Promise<ExtractResult | void>;

/** Options for {@link ImageStore}. */
export interface StoreOptions {
  /** A registry client, or options to build one. */
  registry?: RegistryClient | RegistryOptions;
  /** Parallel layer downloads; default 3. */
  concurrency?: number;
  /** How layers are unpacked from their blob files; default: in this process with `extract`,
   * while they download. A custom unpacker runs after the blob was downloaded and verified. */
  unpack?: Unpacker;
  /** Options for the default unpacker; whiteouts default to "overlay". */
  extract?: ExtractOptions;
  /** Removes an unpacked layer tree; default `Deno.remove` recursive. Layers unpacked in a
   * user namespace hold files of subordinate ids, which need a remover running there too. */
  removeTree?: (path: string) => Promise<void>;
}

/** `$XDG_DATA_HOME/paranoid`, default `~/.local/share/paranoid`. */
export function defaultStoreRoot(env: (name: string) => string | undefined = Deno.env.get): string {
  const xdg = env("XDG_DATA_HOME");
  if (xdg) return `${xdg}/paranoid`;
  const home = env("HOME");
  if (!home) {
    throw new Error("Cannot locate the image store: neither XDG_DATA_HOME nor HOME is set");
  }
  return `${home}/.local/share/paranoid`;
}

interface IndexFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

const hex = (digest: string) => digest.slice("sha256:".length);
const rand = () => crypto.randomUUID().slice(0, 8);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

/** Runs `fn` over items with at most `limit` at a time; the first failure wins. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker),
  );
  const rejected = results.find((r) => r.status === "rejected");
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
}

/**
 * The image store.
 *
 * @example
 * ```ts ignore
 * import { ImageStore } from "./store.ts";
 * const store = new ImageStore();
 * await store.pull("alpine", { onProgress: (e) => console.log(e) });
 * const { config, layerDirs } = await store.resolve("alpine");
 * ```
 */
export class ImageStore {
  /** The store root. */
  readonly root: string;
  #registry: RegistryClient;
  #concurrency: number;
  #unpack: Unpacker;
  #streaming: boolean;
  #extract: ExtractOptions;
  #removeTree: (path: string) => Promise<void>;

  /** Opens (lazily creates) the store at `root`. */
  constructor(root: string = defaultStoreRoot(), opts: StoreOptions = {}) {
    this.root = root;
    this.#registry = opts.registry instanceof RegistryClient
      ? opts.registry
      : new RegistryClient(opts.registry ?? {});
    this.#concurrency = opts.concurrency ?? 3;
    const extract: ExtractOptions = { whiteouts: "overlay", ...opts.extract };
    this.#extract = extract;
    this.#streaming = opts.unpack === undefined;
    this.#unpack = opts.unpack ?? ((blob, dir) => unpackLayer(blob, dir, extract));
    this.#removeTree = opts.removeTree ?? ((p) => Deno.remove(p, { recursive: true }));
  }

  /** Path of a blob by digest. */
  blobPath(digest: string): string {
    return `${this.root}/blobs/sha256/${hex(digest)}`;
  }

  /** Path of an unpacked layer by layer digest. */
  layerPath(digest: string): string {
    return `${this.root}/layers/${hex(digest)}`;
  }

  async #withLock<T>(fn: () => Promise<T>): Promise<T> {
    await Deno.mkdir(`${this.root}/blobs/sha256`, { recursive: true });
    await Deno.mkdir(`${this.root}/layers`, { recursive: true });
    const file = await Deno.open(`${this.root}/lock`, { read: true, write: true, create: true });
    try {
      await file.lock(true);
      return await fn();
    } finally {
      file.close(); // closing drops the flock
    }
  }

  async #readIndex(): Promise<IndexFile> {
    try {
      const json = JSON.parse(await Deno.readTextFile(`${this.root}/index.json`)) as IndexFile;
      if (json.version !== 1 || typeof json.images !== "object") {
        throw new SyntaxError(`Store index "${this.root}/index.json" has an unknown format`);
      }
      return json;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return { version: 1, images: {} };
      throw e;
    }
  }

  async #writeIndex(index: IndexFile): Promise<void> {
    const tmp = `${this.root}/.tmp-index-${rand()}.json`;
    await Deno.writeTextFile(tmp, JSON.stringify(index, null, 2) + "\n");
    await Deno.rename(tmp, `${this.root}/index.json`);
  }

  /** Removes `.tmp-*` leftovers of interrupted pulls; call with the lock held. */
  async #sweep(): Promise<void> {
    for (const dir of [`${this.root}/blobs/sha256`, `${this.root}/layers`, this.root]) {
      for await (const e of Deno.readDir(dir)) {
        if (!e.name.startsWith(".tmp-")) continue;
        if (dir.endsWith("/layers")) await this.#removeTree(`${dir}/${e.name}`).catch(() => {});
        else await removeQuietly(`${dir}/${e.name}`);
      }
    }
  }

  /** Writes bytes as a blob, atomically, if absent. */
  async #putBytes(digest: string, bytes: Uint8Array): Promise<void> {
    const final = this.blobPath(digest);
    if (await exists(final)) return;
    const tmp = `${this.root}/blobs/sha256/.tmp-${hex(digest)}-${rand()}`;
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, final);
  }

  /** Downloads a blob if absent; true when it was downloaded. */
  async #fetchBlob(
    ref: ImageReference,
    desc: Descriptor,
    role: "config" | "layer",
    progress: (e: PullProgress) => void,
    counters: { blobs: number; bytes: number },
  ): Promise<void> {
    const final = this.blobPath(desc.digest);
    const base = { kind: "blob", role, digest: desc.digest, total: desc.size } as const;
    if (await exists(final)) {
      progress({ ...base, state: "cached", bytes: desc.size });
      return;
    }
    progress({ ...base, state: "downloading", bytes: 0 });
    const tmp = `${this.root}/blobs/sha256/.tmp-${hex(desc.digest)}-${rand()}`;
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    let bytes = 0;
    try {
      const stream = await this.#registry.blob(ref, desc);
      // The stream fails at its end when the digest does not match: rename only after it.
      for await (const chunk of stream) {
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
        bytes += chunk.length;
        progress({ ...base, state: "downloading", bytes });
      }
      await file.syncData();
      file.close();
      await Deno.rename(tmp, final);
    } catch (e) {
      try {
        file.close();
      } catch { /* already closed */ }
      await removeQuietly(tmp);
      throw e;
    }
    counters.blobs++;
    counters.bytes += bytes;
    progress({ ...base, state: "downloaded", bytes });
  }

  /** Unpacks a layer blob into layers/HEX if absent; returns the extraction note. */
  async #unpackLayer(
    desc: Descriptor,
    progress: (e: PullProgress) => void,
  ): Promise<string | null> {
    const final = this.layerPath(desc.digest);
    const base = { kind: "blob", role: "layer", digest: desc.digest, total: desc.size } as const;
    if (await exists(final)) return null;
    progress({ ...base, state: "unpacking", bytes: desc.size });
    const tmp = `${this.root}/layers/.tmp-${hex(desc.digest)}-${rand()}`;
    try {
      const result = await this.#unpack(this.blobPath(desc.digest), tmp);
      await Deno.mkdir(tmp, { recursive: true }); // an empty layer still gets a directory
      await Deno.rename(tmp, final);
      const note = result ? describeResult(result) : "";
      return note === "" ? "" : `layer ${desc.digest.slice(0, 19)}: ${note}`;
    } catch (e) {
      await this.#removeTree(tmp).catch(() => {});
      throw e;
    }
  }

  /**
   * Downloads a layer blob and unpacks it in the same pass (see the top of this file);
   * commits blob and layer only when the digest matched. Returns the extraction note.
   */
  async #streamLayer(
    ref: ImageReference,
    desc: Descriptor,
    progress: (e: PullProgress) => void,
    counters: { blobs: number; bytes: number },
    worker: BlobWorker | null,
  ): Promise<string> {
    const base = { kind: "blob", role: "layer", digest: desc.digest, total: desc.size } as const;
    progress({ ...base, state: "downloading", bytes: 0 });
    const blobTmp = `${this.root}/blobs/sha256/.tmp-${hex(desc.digest)}-${rand()}`;
    const layerTmp = `${this.root}/layers/.tmp-${hex(desc.digest)}-${rand()}`;
    const file = await Deno.open(blobTmp, { write: true, createNew: true, mode: 0o644 });
    let open = true;
    const close = () => {
      if (open) file.close();
      open = false;
    };
    try {
      const body = await this.#registry.unverifiedBlob(ref, desc);
      const sink: BlobSink = worker
        ? worker.sink(blobTmp, desc.digest, desc.size)
        : new FileSink(new DigestVerifier(desc.digest, desc.size), file);
      const tee = new VerifiedTee(
        body,
        sink,
        desc,
        (bytes) => progress({ ...base, state: "downloading", bytes }),
      );
      let result: ExtractResult;
      try {
        result = await unpackLayerStream(tee.stream, layerTmp, this.#extract);
      } catch (e) {
        // Bad content often breaks the inflating or the tar first: name the real cause.
        try {
          await tee.finish(false);
        } catch (v) {
          if (v instanceof DigestMismatchError) throw v;
        }
        throw e;
      }
      await tee.finish();
      progress({ ...base, state: "downloaded", bytes: desc.size });
      progress({ ...base, state: "unpacking", bytes: desc.size });
      await file.syncData();
      close();
      await Deno.mkdir(layerTmp, { recursive: true }); // an empty layer still gets a directory
      await Deno.rename(blobTmp, this.blobPath(desc.digest));
      await Deno.rename(layerTmp, this.layerPath(desc.digest));
      counters.blobs++;
      counters.bytes += desc.size;
      const note = describeResult(result);
      return note === "" ? "" : `layer ${desc.digest.slice(0, 19)}: ${note}`;
    } catch (e) {
      try {
        close();
      } catch { /* already closed */ }
      await removeQuietly(blobTmp);
      await this.#removeTree(layerTmp).catch(() => {});
      throw e;
    }
  }

  /** Brings one layer into the store: unpacked from its blob, downloaded when missing. */
  async #pullLayer(
    ref: ImageReference,
    layer: Descriptor,
    progress: (e: PullProgress) => void,
    counters: { blobs: number; bytes: number },
    worker: () => BlobWorker | null,
  ): Promise<string | null> {
    const base = { kind: "blob", role: "layer", digest: layer.digest, total: layer.size } as const;
    let note: string | null = null;
    if (await exists(this.layerPath(layer.digest))) {
      progress({ ...base, state: "cached", bytes: layer.size });
    } else if (this.#streaming && !(await exists(this.blobPath(layer.digest)))) {
      note = await this.#streamLayer(ref, layer, progress, counters, worker());
    } else {
      await this.#fetchBlob(ref, layer, "layer", progress, counters);
      note = await this.#unpackLayer(layer, progress);
    }
    progress({ ...base, state: "done", bytes: layer.size });
    return note;
  }

  /**
   * Pulls an image: manifest (through an index for the platform), config and layers, which
   * download in parallel and unpack as they arrive. Only missing blobs and layers are fetched.
   */
  pull(reference: string | ImageReference, opts: PullOptions = {}): Promise<PullResult> {
    const ref = typeof reference === "string" ? parseReference(reference) : reference;
    const progress = (e: PullProgress) => opts.onProgress?.(e);
    const platform = opts.platform ?? hostPlatform();
    // The blob worker starts with the first layer to download (with the pull, when this
    // reference is new here: its start then overlaps the manifest's round trip), and stops
    // with the pull.
    let worker: BlobWorker | null | undefined;
    const blobWorker = () => {
      if (worker === undefined) {
        try {
          worker = new BlobWorker();
        } catch {
          worker = null; // no workers here: hash and write on this thread
        }
      }
      return worker;
    };
    return this.#withLock(async () => {
      if (this.#streaming && !((await this.#readIndex()).images[ref.toString()])) blobWorker();
      return await this.#pullLocked(ref, platform, progress, blobWorker);
    }).finally(() => worker?.terminate());
  }

  async #pullLocked(
    ref: ImageReference,
    platform: Platform,
    progress: (e: PullProgress) => void,
    worker: () => BlobWorker | null,
  ): Promise<PullResult> {
    await this.#sweep();
    const resolved = await this.#registry.resolve(ref, platform);
    const { manifest, digest } = resolved;
    progress({
      kind: "manifest",
      reference: ref.toString(),
      digest,
      platform: formatPlatform(platform),
    });
    const counters = { blobs: 0, bytes: 0 };
    const notes: string[] = [];
    let unpacked = 0;
    const unique = [...new Map(manifest.layers.map((l) => [l.digest, l])).values()];
    const config = async () => {
      await this.#fetchBlob(ref, manifest.config, "config", progress, counters);
      return parseConfig(
        await Deno.readFile(this.blobPath(manifest.config.digest)),
        `"${manifest.config.digest}"`,
      );
    };
    const layers = pool(unique, this.#concurrency, async (layer) => {
      const note = await this.#pullLayer(ref, layer, progress, counters, worker);
      if (note !== null) unpacked++;
      if (note) notes.push(note);
    });
    // Both run to their end before the lock is released, whichever fails.
    const [configDone, layersDone] = await Promise.allSettled([config(), layers]);
    if (configDone.status === "rejected") throw configDone.reason;
    if (layersDone.status === "rejected") throw layersDone.reason;
    const imageConfig = configDone.value;
    await this.#putBytes(digest, resolved.bytes);
    const record: ImageRecord = {
      reference: ref.toString(),
      manifestDigest: digest,
      ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}),
      configDigest: manifest.config.digest,
      layers: manifest.layers.map((l) => l.digest),
      platform: formatPlatform({
        os: imageConfig.os ?? platform.os,
        architecture: imageConfig.architecture ?? platform.architecture,
      }),
      size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
      pulledAt: new Date().toISOString(),
    };
    const index = await this.#readIndex();
    index.images[record.reference] = record;
    await this.#writeIndex(index);
    return {
      record,
      blobsDownloaded: counters.blobs,
      bytesDownloaded: counters.bytes,
      layersUnpacked: unpacked,
      notes,
    };
  }

  /** The images in the store, sorted by reference. */
  async images(): Promise<ImageRecord[]> {
    const index = await this.#readIndex();
    return Object.values(index.images).sort((a, b) => a.reference.localeCompare(b.reference));
  }

  #key(reference: string | ImageReference): string {
    return (typeof reference === "string" ? parseReference(reference) : reference).toString();
  }

  /** Removes an image from the index (its blobs go with the next {@link prune}). */
  remove(reference: string | ImageReference): Promise<ImageRecord> {
    const key = this.#key(reference);
    return this.#withLock(async () => {
      const index = await this.#readIndex();
      const record = index.images[key];
      if (!record) throw new ImageNotFoundError(key);
      delete index.images[key];
      await this.#writeIndex(index);
      return record;
    });
  }

  /**
   * Deletes blobs and unpacked layers that no image references, and pull leftovers.
   * `opts.keep` names further digests to keep (layers of containers whose image was removed).
   */
  prune(opts: { keep?: readonly string[] } = {}): Promise<{ blobs: number; layers: number }> {
    return this.#withLock(async () => {
      await this.#sweep();
      const index = await this.#readIndex();
      const keep = new Set<string>((opts.keep ?? []).map(hex));
      for (const r of Object.values(index.images)) {
        for (const d of [r.manifestDigest, r.configDigest, ...r.layers]) keep.add(hex(d));
        if (r.indexDigest) keep.add(hex(r.indexDigest));
      }
      let blobs = 0;
      let layers = 0;
      for await (const e of Deno.readDir(`${this.root}/blobs/sha256`)) {
        if (!keep.has(e.name)) {
          await Deno.remove(`${this.root}/blobs/sha256/${e.name}`, { recursive: true });
          blobs++;
        }
      }
      for await (const e of Deno.readDir(`${this.root}/layers`)) {
        if (!keep.has(e.name)) {
          await this.#removeTree(`${this.root}/layers/${e.name}`);
          layers++;
        }
      }
      return { blobs, layers };
    });
  }

  /** Everything needed to run an image: manifest, config and layer directories in order. */
  async resolve(reference: string | ImageReference): Promise<ResolvedImage> {
    const key = this.#key(reference);
    const record = (await this.#readIndex()).images[key];
    if (!record) throw new ImageNotFoundError(key);
    const bytes = await Deno.readFile(this.blobPath(record.manifestDigest));
    const doc = parseManifest(bytes, "", `"${record.manifestDigest}"`);
    if (doc.kind !== "manifest") throw new ImageNotFoundError(key);
    const imageConfig = parseConfig(
      await Deno.readFile(this.blobPath(record.configDigest)),
      `"${record.configDigest}"`,
    );
    return {
      record,
      manifest: doc.manifest,
      imageConfig,
      config: imageConfig.config ?? {},
      layerDirs: record.layers.map((d) => this.layerPath(d)),
      layerBlobs: record.layers.map((d) => this.blobPath(d)),
    };
  }
}
