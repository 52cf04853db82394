// Image references parsed and normalised the way Docker does (`alpine` → docker.io/library/alpine:latest)

/** The registry name Docker uses for Docker Hub in references. */
export const DOCKER_HUB = "docker.io";
/** The host that actually serves the Docker Hub registry API. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

/** A malformed image reference; the message names the value and what is wrong with it. */
export class ImageReferenceError extends SyntaxError {
  /** The text that could not be parsed. */
  readonly value: string;
  /** Builds the error for `value` with the reason after a colon. */
  constructor(value: string, reason: string) {
    super(`Invalid image reference "${value}": ${reason}`);
    this.name = "ImageReferenceError";
    this.value = value;
  }
}

/**
 * A parsed, normalised image reference.
 *
 * @example
 * ```ts
 * import { parseReference } from "./reference.ts";
 * const ref = parseReference("alpine");
 * console.assert(ref.toString() === "docker.io/library/alpine:latest");
 * console.assert(ref.registryHost === "registry-1.docker.io");
 * ```
 */
export class ImageReference {
  /** Registry as written in references (`docker.io`, `quay.io`, `localhost:5000`). */
  readonly registry: string;
  /** Repository path inside the registry (`library/alpine`). */
  readonly repository: string;
  /** Tag, or undefined when the reference names only a digest. */
  readonly tag: string | undefined;
  /** `sha256:` digest when the reference pins one. */
  readonly digest: string | undefined;

  /** Builds a reference from already validated parts; use {@link parseReference} for text. */
  constructor(registry: string, repository: string, tag: string | undefined, digest?: string) {
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /** The host (and port) to contact for the /v2/ API. */
  get registryHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_HOST : this.registry;
  }

  /** The tag or digest to ask the registry for: the digest wins when both are given. */
  get manifestReference(): string {
    return this.digest ?? this.tag ?? "latest";
  }

  /** `registry/repository` without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The same repository pinned to `digest` (tag kept for display). */
  withDigest(digest: string): ImageReference {
    return new ImageReference(this.registry, this.repository, this.tag, digest);
  }

  /** The fully qualified form: `registry/repository[:tag][@digest]`. */
  toString(): string {
    let s = this.name;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }
}

function looksLikeDomain(part: string): boolean {
  return part.includes(".") || part.includes(":") || part === "localhost" ||
    part !== part.toLowerCase();
}

function validateDomain(value: string, domain: string): void {
  let host = domain;
  const portAt = domain.startsWith("[") ? domain.indexOf("]:") + 1 : domain.lastIndexOf(":");
  if (portAt > 0) {
    const port = domain.slice(portAt + 1);
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
      throw new ImageReferenceError(value, `port "${port}" of registry "${domain}" is not valid`);
    }
    host = domain.slice(0, portAt);
  }
  if (IPV6_HOST.test(host)) return;
  if (host === "" || !host.split(".").every((label) => DOMAIN_LABEL.test(label))) {
    throw new ImageReferenceError(value, `registry host "${host}" is not valid`);
  }
}

/**
 * Parses an image reference as Docker does and normalises it: Docker Hub names get `docker.io`
 * and, with one component, `library/`; a reference without tag or digest gets `latest`.
 *
 * @throws {ImageReferenceError} when the text is not a valid reference
 * @example
 * ```ts
 * import { parseReference } from "./reference.ts";
 * const ref = parseReference("localhost:5000/team/app:1.2");
 * console.assert(ref.registry === "localhost:5000" && ref.repository === "team/app");
 * ```
 */
export function parseReference(value: string): ImageReference {
  if (value === "") throw new ImageReferenceError(value, "it is empty");
  if (value.trim() !== value) {
    throw new ImageReferenceError(value, "it has leading or trailing whitespace");
  }
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw new ImageReferenceError(
        value,
        `digest "${digest}" is not "sha256:" followed by 64 lowercase hex digits`,
      );
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new ImageReferenceError(
        value,
        `tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
      );
    }
  }
  if (rest === "") throw new ImageReferenceError(value, "the repository name is empty");
  let registry = DOCKER_HUB;
  let path = rest;
  const firstSlash = rest.indexOf("/");
  if (firstSlash >= 0 && looksLikeDomain(rest.slice(0, firstSlash))) {
    registry = rest.slice(0, firstSlash);
    path = rest.slice(firstSlash + 1);
    validateDomain(value, registry);
    if (registry === "index.docker.io") registry = DOCKER_HUB;
  }
  if (path.length > MAX_NAME) {
    throw new ImageReferenceError(value, `repository name is longer than ${MAX_NAME} characters`);
  }
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) {
      const why = component !== component.toLowerCase()
        ? "must be lowercase"
        : "may contain only lowercase letters, digits and single separators (., _, __, -)";
      throw new ImageReferenceError(value, `repository component "${component}" ${why}`);
    }
  }
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  if (tag === undefined && digest === undefined) tag = "latest";
  return new ImageReference(registry, path, tag, digest);
}
