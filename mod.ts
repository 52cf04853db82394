/**
 * paranoid: rootless Linux containers from Deno, with no daemon, no root and no setuid helper.
 *
 * Start a container as `Deno.Command` starts a process:
 *
 * ```ts ignore
 * import { Container } from "jsr:@paranoid/cli";
 *
 * const result = await new Container({
 *   root: "./rootfs",
 *   command: "/bin/sh",
 *   args: ["-c", "echo hello from $(hostname)"],
 *   hostname: "sandbox",
 *   network: false,
 * }).output();
 * console.log(result.code, new TextDecoder().decode(result.stdout));
 * ```
 *
 * Run as a program (`deno run -A jsr:@paranoid/cli --root=DIR -- sh`), this
 * module is the command line.
 *
 * @module
 */

export {
  Container,
  type ContainerOutput,
  type ContainerProcess,
  type ContainerSpawnOptions,
  type ContainerStatus,
} from "./src/container/container.ts";
export { ContainerConfigError, type ContainerOptions } from "./src/container/options.ts";
export { ContainerStartError, type StdioMode } from "./src/container/process/host.ts";
export type { BindMount, MountSpec, TmpfsMount } from "./src/container/spec.ts";
export { ensureDefaultRootfs } from "./src/container/default_rootfs.ts";
export type { NetworkOptions } from "./src/container/options.ts";
export type { PortMapping } from "./src/net/host/port_mapping.ts";
export { images, pull, PullError, type PullOptions } from "./src/image/api.ts";
export type { ImageRecord } from "./src/image/store.ts";
export {
  CONTAINER_ADDRESS,
  CONTAINER_ADDRESS6,
  GATEWAY_ADDRESS,
  GATEWAY_ADDRESS6,
} from "./src/net/addresses.ts";
export { SyscallError } from "./ffi/errno.ts";

import { cli } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await cli(Deno.args));
}
