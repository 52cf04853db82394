// OCI and Docker schema-2 manifests, image indexes and platform selection for this machine

/** Media types the client understands. */
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

const LAYER_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
]);

/** The Accept header for manifest requests: every manifest and index type above. */
export const MANIFEST_ACCEPT = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerList,
].join(", ");

/** A manifest or blob that does not have the expected shape. */
export class ManifestError extends TypeError {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

/** The platform an image is built for. */
export interface Platform {
  /** Operating system, "linux". */
  os: string;
  /** Go architecture name: "amd64", "arm64", "arm", ... */
  architecture: string;
  /** CPU variant: "v8", "v7", ... */
  variant?: string;
}

/** A content descriptor: what, how big, which digest. */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** `sha256:` digest. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** Platform, in index entries. */
  platform?: Platform;
  /** Foreign layer locations (refused). */
  urls?: string[];
}

/** An image manifest (OCI or Docker schema 2). */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: number;
  /** Manifest media type when stated. */
  mediaType?: string;
  /** The image configuration blob. */
  config: Descriptor;
  /** Layers, lowest first. */
  layers: Descriptor[];
}

/** An image index or Docker manifest list. */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: number;
  /** Index media type when stated. */
  mediaType?: string;
  /** One entry per platform (plus attestations). */
  manifests: Descriptor[];
}

/** The parts of the image configuration a runtime needs. */
export interface RunConfig {
  /** Entrypoint argv prefix. */
  Entrypoint?: string[] | null;
  /** Default command. */
  Cmd?: string[] | null;
  /** `NAME=value` pairs. */
  Env?: string[] | null;
  /** Working directory. */
  WorkingDir?: string;
  /** `user[:group]`. */
  User?: string;
  /** Other fields (ExposedPorts, Labels, StopSignal, ...). */
  [key: string]: unknown;
}

/** The image configuration blob. */
export interface ImageConfig {
  /** Architecture the image runs on. */
  architecture?: string;
  /** Operating system. */
  os?: string;
  /** Runtime defaults. */
  config?: RunConfig;
  /** Uncompressed layer digests. */
  rootfs?: { type: string; diff_ids: string[] };
  /** Other fields (history, created, ...). */
  [key: string]: unknown;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Checks a `sha256:` digest string. */
export function assertDigest(digest: unknown, where: string): asserts digest is string {
  if (typeof digest !== "string" || !DIGEST.test(digest)) {
    throw new ManifestError(`Invalid digest "${String(digest)}" in ${where}: expected sha256`);
  }
}

function descriptor(value: unknown, where: string): Descriptor {
  const d = value as Descriptor;
  if (typeof d !== "object" || d === null || typeof d.mediaType !== "string") {
    throw new ManifestError(`Descriptor without mediaType in ${where}`);
  }
  assertDigest(d.digest, where);
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ManifestError(`Descriptor "${d.digest}" in ${where} has invalid size "${d.size}"`);
  }
  return d;
}

/** A parsed manifest document. */
export type ManifestDocument =
  | { kind: "index"; index: ImageIndex }
  | { kind: "manifest"; manifest: ImageManifest };

/** Parses manifest bytes given the Content-Type (which may be absent or generic). */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string,
  where: string,
): ManifestDocument {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ManifestError(`Manifest ${where} is not JSON: ${(e as Error).message}`);
  }
  const type = typeof json.mediaType === "string" ? json.mediaType : contentType.split(";")[0]!;
  if (json.schemaVersion !== 2) {
    throw new ManifestError(
      `Manifest ${where} has schemaVersion "${json.schemaVersion}": only schema 2 is supported`,
    );
  }
  if (
    type === MediaType.ociIndex || type === MediaType.dockerList || Array.isArray(json.manifests)
  ) {
    const manifests = (json.manifests as unknown[] | undefined ?? []).map((m) =>
      descriptor(m, `index ${where}`)
    );
    return { kind: "index", index: { ...json, schemaVersion: 2, manifests } };
  }
  if (!Array.isArray(json.layers)) throw new ManifestError(`Manifest ${where} has no layers`);
  const config = descriptor(json.config, `config of ${where}`);
  const layers = (json.layers as unknown[]).map((l) => {
    const d = descriptor(l, `layers of ${where}`);
    if (d.urls !== undefined && d.urls.length > 0) {
      throw new ManifestError(`Layer "${d.digest}" of ${where} is a foreign layer: not supported`);
    }
    if (!LAYER_TYPES.has(d.mediaType)) {
      throw new ManifestError(
        `Layer "${d.digest}" of ${where} has unsupported media type "${d.mediaType}"`,
      );
    }
    return d;
  });
  return { kind: "manifest", manifest: { ...json, schemaVersion: 2, config, layers } };
}

/** The platform of this machine, as Go names it. */
export function hostPlatform(): Platform {
  switch (Deno.build.arch) {
    case "x86_64":
      return { os: "linux", architecture: "amd64" };
    case "aarch64":
      return { os: "linux", architecture: "arm64", variant: "v8" };
    default:
      return { os: "linux", architecture: Deno.build.arch };
  }
}

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split("/");
  if (!os || !architecture || extra !== undefined || variant === "") {
    throw new ManifestError(`Invalid platform "${text}": expected os/architecture[/variant]`);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Formats a platform as `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x).join("/");
}

/**
 * Picks the entry of an index for `platform`: os and architecture must match; a requested
 * variant must match too (arm64 treats a missing variant as "v8"); an exact variant wins.
 *
 * @throws {ManifestError} naming the available platforms when none matches
 */
export function selectPlatform(index: ImageIndex, platform: Platform, where: string): Descriptor {
  const norm = (p: Platform) =>
    p.variant ?? (p.architecture === "arm64" ? "v8" : p.architecture === "arm" ? "v7" : "");
  const candidates = index.manifests.filter((m) =>
    m.platform !== undefined && m.platform.os === platform.os &&
    m.platform.architecture === platform.architecture
  );
  const wanted = norm(platform);
  const exact = candidates.find((m) => norm(m.platform!) === wanted);
  const chosen = exact ?? (platform.variant === undefined ? candidates[0] : undefined);
  if (chosen === undefined) {
    const available = index.manifests
      .filter((m) => m.platform !== undefined && m.platform.os !== "unknown")
      .map((m) => formatPlatform(m.platform!));
    throw new ManifestError(
      `No image for platform "${formatPlatform(platform)}" in ${where}: available ${
        available.length > 0 ? available.map((a) => `"${a}"`).join(", ") : "none"
      }`,
    );
  }
  return chosen;
}

/** Parses an image configuration blob. */
export function parseConfig(bytes: Uint8Array, where: string): ImageConfig {
  try {
    const json = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof json !== "object" || json === null) throw new Error("not an object");
    return json as ImageConfig;
  } catch (e) {
    throw new ManifestError(`Image config ${where} is not valid JSON: ${(e as Error).message}`);
  }
}
