// What the init's programs are written from besides the spec, and the ids of their hooks.

/** The hooks of the init's programs, by id: the runner's table has them in this order. */
export const INIT_HOOK = {
  /** Configure eth0 and its IPv6: address, prefix length, gateway (uint32s) and MTU. */
  network: 0,
  /** Open a pty, send its master to the host, make it INIT's terminal: rows and columns (0: none). */
  terminal: 1,
  /** Wait at the start gate: the register holding its descriptor. */
  gate: 2,
  /** Make a container path, following the root's links: its C string's address, 1 for a file. */
  follow: 3,
} as const;

/** What the host knows that the programs depend on. */
export interface InitContext {
  /** The init's channel to the host side. */
  readonly sock: number;
  /** The signals the host side (and so the child, born its copy) ignores and catches. */
  readonly signals: { readonly ignored: readonly number[]; readonly caught: readonly number[] };
  /** The descriptors INIT's stdin, stdout and stderr come from. */
  readonly stdio: readonly [number, number, number];
  /** Whether setgroups(2) is denied in the container (one id mapped, or denied above us). */
  readonly setgroupsDenied: boolean;
  /** The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  readonly lastCapability: number;
}
