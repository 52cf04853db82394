// The image library: references, registry client, tar extraction and the local store
/**
 * Images without root: parse references, pull from registries into a content-addressed
 * store, and unpack layers safely.
 *
 * @example
 * ```ts ignore
 * import { ImageStore } from "./mod.ts";
 * const store = new ImageStore();
 * await store.pull("alpine:3.20", { onProgress: (e) => console.error(e) });
 * const { config, layerDirs } = await store.resolve("alpine:3.20");
 * ```
 *
 * @module
 */

export {
  DOCKER_HUB,
  DOCKER_HUB_HOST,
  ImageReference,
  ImageReferenceError,
  parseReference,
} from "./reference.ts";
export {
  type Compression,
  decompress,
  detectCompression,
  readTar,
  type TarEntry,
  type TarEntryType,
  TarError,
} from "./tar.ts";
export {
  commandHooks,
  describeResult,
  type ExtractOptions,
  type ExtractResult,
  extractTar,
  type FsHooks,
  unpackLayer,
  unpackLayerStream,
  UnsafeEntryError,
  type WhiteoutMode,
} from "./extract.ts";
export {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  ManifestError,
  MediaType,
  parsePlatform,
  type Platform,
  type RunConfig,
  selectPlatform,
} from "./manifest.ts";
export { AuthFileError, type Credentials, defaultAuthFiles, findCredentials } from "./auth.ts";
export {
  DigestMismatchError,
  DigestVerifier,
  isLoopback,
  RegistryClient,
  RegistryError,
  type RegistryOptions,
  type ResolvedManifest,
  sha256,
  verifyingStream,
} from "./registry.ts";
export {
  defaultStoreRoot,
  ImageNotFoundError,
  type ImageRecord,
  ImageStore,
  type PullOptions,
  type PullProgress,
  type PullResult,
  type ResolvedImage,
  type StoreOptions,
  type Unpacker,
} from "./store.ts";
export { VerifiedTee } from "./verified_tee.ts";
