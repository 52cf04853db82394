// Registry credentials from Docker and containers auth files (`auths[host].auth`, base64 user:pass)

import { DOCKER_HUB, DOCKER_HUB_HOST } from "./reference.ts";

/** A user name and password (or identity token) for one registry. */
export interface Credentials {
  /** User name. */
  username: string;
  /** Password or token. */
  password: string;
}

/** An auth file that exists but cannot be used. */
export class AuthFileError extends SyntaxError {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "AuthFileError";
  }
}

/**
 * The auth files to search, in order: `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json`
 * (default `~/.docker/config.json`).
 */
export function defaultAuthFiles(
  env: (name: string) => string | undefined = Deno.env.get,
): string[] {
  const files: string[] = [];
  const explicit = env("REGISTRY_AUTH_FILE");
  if (explicit) files.push(explicit);
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) files.push(`${runtime}/containers/auth.json`);
  const dockerConfig = env("DOCKER_CONFIG");
  const home = env("HOME");
  if (dockerConfig) files.push(`${dockerConfig}/config.json`);
  else if (home) files.push(`${home}/.docker/config.json`);
  return files;
}

/** The keys a registry may appear under in `auths`. */
function keysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`];
  if (registry === DOCKER_HUB || registry === DOCKER_HUB_HOST) {
    keys.push("https://index.docker.io/v1/", "index.docker.io", DOCKER_HUB, DOCKER_HUB_HOST);
  }
  return keys;
}

/** Decodes one `auths` entry. */
function decodeEntry(entry: unknown, file: string, key: string): Credentials | undefined {
  if (typeof entry !== "object" || entry === null) return undefined;
  const e = entry as {
    auth?: unknown;
    username?: unknown;
    password?: unknown;
    identitytoken?: unknown;
  };
  if (typeof e.auth === "string" && e.auth !== "") {
    let text: string;
    try {
      text = new TextDecoder().decode(Uint8Array.from(atob(e.auth), (c) => c.charCodeAt(0)));
    } catch {
      throw new AuthFileError(`Auth file "${file}" has invalid base64 in auths["${key}"].auth`);
    }
    const colon = text.indexOf(":");
    if (colon < 0) {
      throw new AuthFileError(`Auth file "${file}" auths["${key}"].auth is not "user:password"`);
    }
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof e.identitytoken === "string" && e.identitytoken !== "") {
    return { username: "<token>", password: e.identitytoken };
  }
  if (typeof e.username === "string" && typeof e.password === "string") {
    return { username: e.username, password: e.password };
  }
  return undefined;
}

/**
 * Finds credentials for `registry` (as written in references, e.g. `docker.io`,
 * `localhost:5000`) in the first auth file that has them. Missing files are skipped.
 *
 * @throws {AuthFileError} for a file that is not JSON or has a malformed entry
 */
export async function findCredentials(
  registry: string,
  files: string[] = defaultAuthFiles(),
): Promise<Credentials | undefined> {
  for (const file of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) continue;
      throw e;
    }
    let json: { auths?: Record<string, unknown> };
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new AuthFileError(`Auth file "${file}" is not JSON: ${(e as Error).message}`);
    }
    const auths = json.auths ?? {};
    for (const key of keysFor(registry)) {
      const found = decodeEntry(auths[key], file, key);
      if (found) return found;
    }
  }
  return undefined;
}
