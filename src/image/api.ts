// The image operations a script needs, on the user's own store: pull and list.

import { defaultStoreRoot, type ImageRecord, ImageStore } from "./store.ts";

/** Options of {@link pull}. */
export interface PullOptions {
  /** The platform to pick from a multi-platform image, e.g. "linux/arm64". */
  platform?: string;
  /** Talk plain HTTP to a registry that is not on loopback. */
  insecure?: boolean;
}

/** A pull that failed; the message is paranoid's one sentence. */
export class PullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PullError";
  }
}

/**
 * Pulls an image into the user's store (`$XDG_DATA_HOME/paranoid`), as
 * `paranoid pull` does, layers unpacked in a user namespace so that owners
 * survive; resolves to the image's manifest digest.
 *
 * @example
 * ```ts ignore
 * import { pull, Container } from "jsr:@paranoid/cli";
 * const digest = await pull("127.0.0.1:5000/team/tool:1");
 * ```
 */
export async function pull(reference: string, options: PullOptions = {}): Promise<string> {
  const main = new URL("../../main.ts", import.meta.url).href;
  const args = [
    "run",
    "-A",
    "--no-config",
    "--quiet",
    "--v8-flags=--single-threaded",
    main,
    "pull",
  ];
  if (options.platform) args.push("--platform", options.platform);
  if (options.insecure) args.push("--insecure");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...args, reference],
    env: { DENO_V8_FLAGS: "--single-threaded" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const digest = /\((sha256:[0-9a-f]{64})\)/.exec(text)?.[1];
  if (!out.success || digest === undefined) {
    const why = new TextDecoder().decode(out.stderr).trim().replace(/^paranoid: /, "");
    throw new PullError(why || `paranoid pull ${reference} exited with ${out.code}`);
  }
  return digest;
}

/**
 * Lists the images in the user's store, by reference.
 *
 * @example
 * ```ts
 * import { images } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * const list = await images(dir);
 * console.assert(list.length === 0); // a fresh store holds no image
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function images(storeRoot: string = defaultStoreRoot()): Promise<ImageRecord[]> {
  return await new ImageStore(storeRoot).images();
}
