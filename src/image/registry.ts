// A client for the registry /v2/ API: token and Basic auth, manifests, digest-verified blobs
//
// Theory of operation: every request goes to `scheme://host/v2/...`, https except for
// loopback registries (localhost, 127.0.0.0/8, ::1) and registries named in `insecure`.
// A 401 carries a `WWW-Authenticate` challenge: for Bearer, a token is fetched anonymously
// (or with Basic credentials when the auth files have some) from the realm for the
// challenge's scope and cached per host and scope; for Basic, the credentials are sent.
// Redirects (blob downloads often go to object storage) are followed by hand so that the
// Authorization header never leaves the registry's origin. Blobs come back as streams that
// hash while they flow and fail at the end (or as soon as they run past the expected size)
// when the content does not match its digest, so a caller that writes to a temp file and
// renames only after the stream ends never keeps bad content. `unverifiedBlob` hands out the
// raw body for callers that verify with a `DigestVerifier` themselves (store.ts unpacks a
// layer while it downloads and commits it only once the digest matched).

import { createHash } from "node:crypto";
import { type Credentials, defaultAuthFiles, findCredentials } from "./auth.ts";
import {
  assertDigest,
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type ImageManifest,
  MANIFEST_ACCEPT,
  parseManifest,
  type Platform,
  selectPlatform,
} from "./manifest.ts";
import type { ImageReference } from "./reference.ts";

/** A registry answered with an error or could not be reached. */
export class RegistryError extends Error {
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** Builds the error. */
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "RegistryError";
    this.status = status;
  }
}

/** Content that does not hash to the digest it was asked for. */
export class DigestMismatchError extends Error {
  /** The digest that was expected. */
  readonly expected: string;
  /** Builds the error; the message names the expected digest. */
  constructor(expected: string, detail: string) {
    super(`Content of "${expected}" does not match its digest: ${detail}`);
    this.name = "DigestMismatchError";
    this.expected = expected;
  }
}

/** Options for {@link RegistryClient}. */
export interface RegistryOptions {
  /** The fetch to use (tests inject failures here). */
  fetch?: typeof fetch;
  /** Registries (host[:port] as in references) reached over plain HTTP; true for all. */
  insecure?: boolean | string[];
  /** Credentials to use instead of the auth files. */
  credentials?: Credentials;
  /** Auth files to search; default {@link defaultAuthFiles}. */
  authFiles?: string[];
  /** User-Agent header. */
  userAgent?: string;
}

/** True for localhost, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopback(host: string): boolean {
  let name = host;
  if (name.startsWith("[")) name = name.slice(1, name.indexOf("]"));
  else if (name.includes(":")) name = name.slice(0, name.lastIndexOf(":"));
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * Checks content against its digest (and size) as it arrives: `update` for every piece, in
 * order, fails as soon as the content runs past `size`; `finish` fails unless it all hashed
 * to `digest`.
 */
export class DigestVerifier {
  /** The digest the content must hash to. */
  readonly digest: string;
  /** The expected size in bytes, when known. */
  readonly size: number | undefined;
  #hash = createHash("sha256");
  #seen = 0;

  /** Builds a verifier for `digest` (sha256 only) and, when given, `size`. */
  constructor(digest: string, size?: number) {
    assertDigest(digest, "blob request");
    this.digest = digest;
    this.size = size;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#seen;
  }

  /** Takes the next piece; throws {@link DigestMismatchError} once past the expected size. */
  update(chunk: Uint8Array): void {
    this.#seen += chunk.length;
    if (this.size !== undefined && this.#seen > this.size) {
      throw new DigestMismatchError(this.digest, `more than the expected ${this.size} bytes`);
    }
    this.#hash.update(chunk);
  }

  /** Throws {@link DigestMismatchError} unless everything seen has the size and the digest. */
  finish(): void {
    const actual = `sha256:${this.#hash.digest("hex")}`;
    if (this.size !== undefined && this.#seen !== this.size) {
      throw new DigestMismatchError(this.digest, `got ${this.#seen} bytes, expected ${this.size}`);
    }
    if (actual !== this.digest) throw new DigestMismatchError(this.digest, `got "${actual}"`);
  }
}

/** A stream that passes bytes through and fails unless they hash to `digest` (and `size`). */
export function verifyingStream(
  digest: string,
  size?: number,
): TransformStream<Uint8Array, Uint8Array> {
  const verifier = new DigestVerifier(digest, size);
  return new TransformStream({
    transform(chunk, controller) {
      verifier.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      verifier.finish();
    },
  });
}

/** The hex sha256 digest of bytes, prefixed with `sha256:`. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A manifest resolved for one platform. */
export interface ResolvedManifest {
  /** The image manifest. */
  manifest: ImageManifest;
  /** Its exact bytes (what the digest covers). */
  bytes: Uint8Array;
  /** Its digest. */
  digest: string;
  /** The index digest when the reference named an index. */
  indexDigest: string | undefined;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function parseChallenge(header: string): Challenge {
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)="([^"]*)"|([a-zA-Z_]+)=([^,\s]*)/g;
  for (const m of header.slice(space + 1).matchAll(re)) {
    const key = (m[1] ?? m[3] ?? "").toLowerCase();
    params[key] = m[2] ?? m[4] ?? "";
  }
  return { scheme, params };
}

function basic(c: Credentials): string {
  const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/**
 * A registry client for one process; it caches tokens per host and scope.
 *
 * @example
 * ```ts ignore
 * import { parseReference } from "./reference.ts";
 * import { RegistryClient } from "./registry.ts";
 * const ref = parseReference("alpine:3.20");
 * const client = new RegistryClient();
 * const { manifest } = await client.resolve(ref);
 * const blob = await client.blob(ref, manifest.config);
 * ```
 */
export class RegistryClient {
  #fetch: typeof fetch;
  #insecure: boolean | string[];
  #credentials: Credentials | undefined;
  #authFiles: string[];
  #userAgent: string;
  #tokens = new Map<string, string>();
  #creds = new Map<string, Promise<Credentials | undefined>>();

  /** Builds a client. */
  constructor(opts: RegistryOptions = {}) {
    this.#fetch = opts.fetch ?? fetch;
    this.#insecure = opts.insecure ?? false;
    this.#credentials = opts.credentials;
    this.#authFiles = opts.authFiles ?? defaultAuthFiles();
    this.#userAgent = opts.userAgent ?? "paranoid";
  }

  /** The base URL for a registry host. */
  baseUrl(ref: ImageReference): string {
    const host = ref.registryHost;
    const plain = isLoopback(host) || this.#insecure === true ||
      (Array.isArray(this.#insecure) &&
        (this.#insecure.includes(host) || this.#insecure.includes(ref.registry)));
    return `${plain ? "http" : "https"}://${host}`;
  }

  #credentialsFor(ref: ImageReference): Promise<Credentials | undefined> {
    if (this.#credentials) return Promise.resolve(this.#credentials);
    let p = this.#creds.get(ref.registry);
    if (!p) {
      p = findCredentials(ref.registry, this.#authFiles);
      this.#creds.set(ref.registry, p);
    }
    return p;
  }

  async #send(url: string, headers: Headers, what: string): Promise<Response> {
    let current = url;
    for (let hop = 0; hop < 6; hop++) {
      let res: Response;
      try {
        res = await this.#fetch(current, { headers, redirect: "manual" });
      } catch (e) {
        throw new RegistryError(
          `Cannot reach "${new URL(current).host}" for ${what}: ${e}`,
          undefined,
          {
            cause: e,
          },
        );
      }
      if (res.status < 300 || res.status >= 400 || !res.headers.has("location")) return res;
      await res.body?.cancel();
      const next = new URL(res.headers.get("location")!, current);
      if (next.origin !== new URL(current).origin) headers.delete("authorization");
      current = next.href;
    }
    throw new RegistryError(`Too many redirects for ${what}`);
  }

  async #token(ref: ImageReference, c: Challenge, what: string): Promise<string> {
    const realm = c.params.realm;
    if (!realm) throw new RegistryError(`Bearer challenge without realm for ${what}`, 401);
    const scope = c.params.scope ?? `repository:${ref.repository}:pull`;
    const key = `${ref.registryHost} ${scope}`;
    const cached = this.#tokens.get(key);
    if (cached) return cached;
    const url = new URL(realm);
    if (c.params.service) url.searchParams.set("service", c.params.service);
    url.searchParams.set("scope", scope);
    const headers = new Headers({ "user-agent": this.#userAgent });
    const creds = await this.#credentialsFor(ref);
    if (creds) headers.set("authorization", basic(creds));
    const res = await this.#send(url.href, headers, `a token for ${what}`);
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(
        `Token request to "${url.origin}" for ${what} failed with HTTP ${res.status}${
          creds ? "" : ": log in or add credentials to an auth file"
        }`,
        res.status,
      );
    }
    let body: { token?: string; access_token?: string };
    try {
      body = await res.json();
    } catch (e) {
      throw new RegistryError(`Token response from "${url.origin}" is not JSON: ${e}`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`Token response from "${url.origin}" has no token`);
    this.#tokens.set(key, token);
    return token;
  }

  /** GET a /v2/ path with authentication; returns a 2xx response or throws. */
  async #get(ref: ImageReference, path: string, accept: string, what: string): Promise<Response> {
    const url = `${this.baseUrl(ref)}/v2/${ref.repository}/${path}`;
    const make = () => new Headers({ accept, "user-agent": this.#userAgent });
    const scopeKey = `${ref.registryHost} repository:${ref.repository}:pull`;
    let headers = make();
    const known = this.#tokens.get(scopeKey);
    if (known) headers.set("authorization", `Bearer ${known}`);
    let res = await this.#send(url, headers, what);
    if (res.status === 401) {
      const header = res.headers.get("www-authenticate") ?? "";
      await res.body?.cancel();
      const challenge = parseChallenge(header);
      headers = make();
      if (challenge.scheme === "bearer") {
        this.#tokens.delete(scopeKey);
        const token = await this.#token(ref, challenge, what);
        this.#tokens.set(scopeKey, token);
        headers.set("authorization", `Bearer ${token}`);
      } else if (challenge.scheme === "basic") {
        const creds = await this.#credentialsFor(ref);
        if (!creds) {
          throw new RegistryError(
            `Registry "${ref.registry}" requires a login for ${what}: add credentials to "${
              this.#authFiles[0] ?? "~/.docker/config.json"
            }"`,
            401,
          );
        }
        headers.set("authorization", basic(creds));
      } else {
        throw new RegistryError(`Unsupported authentication "${header}" for ${what}`, 401);
      }
      res = await this.#send(url, headers, what);
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => "")).slice(0, 300).trim();
      const reason = res.status === 404
        ? "not found"
        : res.status === 401 || res.status === 403
        ? "access denied"
        : `HTTP ${res.status}`;
      throw new RegistryError(
        `${what} from "${ref.registry}": ${reason}${text ? `: ${text}` : ""}`,
        res.status,
      );
    }
    return res;
  }

  /** Fetches manifest bytes by tag or digest, verifying the digest. */
  async manifest(
    ref: ImageReference,
    reference: string = ref.manifestReference,
  ): Promise<{ bytes: Uint8Array; mediaType: string; digest: string }> {
    const what = `Manifest "${ref.name}:${reference}"`.replace(":sha256:", "@sha256:");
    const res = await this.#get(ref, `manifests/${reference}`, MANIFEST_ACCEPT, what);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = sha256(bytes);
    const claimed = reference.startsWith("sha256:")
      ? reference
      : res.headers.get("docker-content-digest") ?? digest;
    if (claimed !== digest) {
      throw new DigestMismatchError(claimed, `manifest hashes to "${digest}"`);
    }
    return { bytes, mediaType: res.headers.get("content-type") ?? "", digest };
  }

  /**
   * Resolves a reference to the image manifest for `platform` (default: this machine),
   * following an index or manifest list.
   */
  async resolve(
    ref: ImageReference,
    platform: Platform = hostPlatform(),
  ): Promise<ResolvedManifest> {
    const first = await this.manifest(ref);
    const doc = parseManifest(first.bytes, first.mediaType, `"${ref}"`);
    if (doc.kind === "manifest") {
      return {
        manifest: doc.manifest,
        bytes: first.bytes,
        digest: first.digest,
        indexDigest: undefined,
      };
    }
    const chosen = selectPlatform(doc.index, platform, `"${ref}"`);
    const second = await this.manifest(ref, chosen.digest);
    const inner = parseManifest(
      second.bytes,
      second.mediaType,
      `"${ref}" (${formatPlatform(platform)})`,
    );
    if (inner.kind !== "manifest") {
      throw new RegistryError(
        `Index "${ref}" points to another index for ${formatPlatform(platform)}`,
      );
    }
    return {
      manifest: inner.manifest,
      bytes: second.bytes,
      digest: second.digest,
      indexDigest: first.digest,
    };
  }

  /** Streams a blob, verified against its digest (and size) while it flows. */
  async blob(
    ref: ImageReference,
    desc: Pick<Descriptor, "digest"> & { size?: number },
  ): Promise<ReadableStream<Uint8Array>> {
    const body = await this.unverifiedBlob(ref, desc);
    return body.pipeThrough(verifyingStream(desc.digest, desc.size));
  }

  /**
   * Streams a blob as the registry sends it, NOT verified: the caller must pass every byte
   * through a {@link DigestVerifier} and keep nothing of it unless `finish` succeeds.
   */
  async unverifiedBlob(
    ref: ImageReference,
    desc: Pick<Descriptor, "digest">,
  ): Promise<ReadableStream<Uint8Array>> {
    assertDigest(desc.digest, `a blob of "${ref}"`);
    const res = await this.#get(ref, `blobs/${desc.digest}`, "*/*", `Blob "${desc.digest}"`);
    if (!res.body) throw new RegistryError(`Blob "${desc.digest}" has an empty response`);
    return res.body;
  }
}
