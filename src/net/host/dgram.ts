// node:dgram, loaded on first use: Deno's Node compatibility layer costs tens of milliseconds to start.

import type dgram from "node:dgram";

let loaded: typeof dgram | null = null;
let loading: Promise<typeof dgram> | null = null;

/** Loads node:dgram (once) and resolves to it. */
export function loadDgram(): Promise<typeof dgram> {
  loading ??= import("node:dgram").then((m) => loaded = m.default);
  return loading;
}

/** node:dgram if it is loaded already, else null (call {@link loadDgram} and come back). */
export function dgramIfLoaded(): typeof dgram | null {
  return loaded;
}
