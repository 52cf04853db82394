// Joins a started container's TAP to the userspace network stack on the host side.

import type { ContainerNetwork } from "../net/host/network.ts";
import type { PortPublisher } from "../net/host/publish.ts";
import type { NetworkOptions } from "./options.ts";

/**
 * Loads the network stack's modules. It is a large graph, so it is loaded
 * only for containers that have a network, and started while they start.
 */
export function loadNetworkModules(): Promise<typeof import("../net/host/network.ts")> {
  return import("../net/host/network.ts");
}
import type { RunningContainer } from "./process/host.ts";

/** Starts the stack on the container's TAP, or returns null when the container has no network. */
export async function attachNetwork(
  running: RunningContainer,
  options: boolean | NetworkOptions | undefined,
  publisher: PortPublisher | null,
  warn?: (message: string) => void,
): Promise<ContainerNetwork | null> {
  if (running.tapFd === null) {
    publisher?.close();
    return null;
  }
  const { ContainerNetwork } = await loadNetworkModules();
  const o = typeof options === "object" ? options : {};
  return new ContainerNetwork(running.tapFd, {
    config: {
      ...(o.disableHostLoopback !== undefined
        ? { disableHostLoopback: o.disableHostLoopback }
        : {}),
      ...(o.dnsUpstreams !== undefined ? { dnsUpstreams: o.dnsUpstreams } : {}),
      ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
    },
    ...(o.trace !== undefined ? { trace: o.trace } : {}),
    ...(warn ? { warn } : {}),
    ...(publisher ? { publish: publisher } : {}),
  });
}

/** Binds the published ports of `options` before the container starts; null when there are none. */
export async function bindPublishedPorts(
  options: boolean | NetworkOptions | undefined,
): Promise<PortPublisher | null> {
  const mappings = typeof options === "object" ? options.publish ?? [] : [];
  if (mappings.length === 0) return null;
  const { PortPublisher } = await import("../net/host/publish.ts");
  return await PortPublisher.bind(mappings);
}

/** True when this user can open /dev/net/tun (mode 0666 on common distributions). */
export function tunUsable(): boolean {
  try {
    Deno.openSync("/dev/net/tun", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
}

/** The warning printed when the default network is dropped because /dev/net/tun is not usable. */
export const NO_TUN_WARNING =
  "warning: /dev/net/tun cannot be opened by this user, so the container starts without a network (only lo); as root, chmod 0666 /dev/net/tun as distributions do, or pass -N to silence this";
