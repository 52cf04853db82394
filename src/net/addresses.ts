// The container's addresses and its gateway's, as text, for scripts and messages.

/**
 * The container's IPv4 address on eth0.
 *
 * @example
 * ```ts
 * import { CONTAINER_ADDRESS, GATEWAY_ADDRESS } from "./addresses.ts";
 * console.assert(CONTAINER_ADDRESS === "10.0.15.2" && GATEWAY_ADDRESS === "10.0.15.1");
 * ```
 */
export const CONTAINER_ADDRESS = "10.0.15.2";
/** The gateway: it answers DNS and leads to the host's 127.0.0.1. */
export const GATEWAY_ADDRESS = "10.0.15.1";
/** The container's IPv6 address on eth0. */
export const CONTAINER_ADDRESS6 = "fd00:15::2";
/** The IPv6 gateway: it answers DNS and leads to the host's ::1. */
export const GATEWAY_ADDRESS6 = "fd00:15::1";
