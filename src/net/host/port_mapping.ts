// Published ports as the user writes them: -p values parsed into mappings, and the error a port that cannot be published gives.
//
// Kept apart from publish.ts (the listeners and the flows), so that parsing a
// command line does not load the host's socket code.

import { tryParseIpv6 } from "../wire/ipv6_address.ts";

/** One published port. */
export interface PortMapping {
  readonly protocol: "tcp" | "udp";
  /** Host address to listen on; "0.0.0.0" for all. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

/** A port that could not be published; the message names the port, the reason and the fix. */
export class PublishError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PublishError";
  }
}

/**
 * Parses `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]`, with ranges of equal
 * length (`8000-8002:80-82`); an IPv6 HOSTIP is bracketed (`[::1]:8080:80`).
 * Throws a RangeError naming the value.
 */
export function parsePublish(text: string): PortMapping[] {
  const bad = (why: string) => new RangeError(`invalid value for "--publish": "${text}" (${why})`);
  let spec = text;
  let protocol: "tcp" | "udp" = "tcp";
  const slash = spec.lastIndexOf("/");
  if (slash !== -1) {
    const p = spec.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") throw bad(`unknown protocol "${p}"`);
    protocol = p;
    spec = spec.slice(0, slash);
  }
  let hostIp = "0.0.0.0";
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(spec);
  if (v6 !== null) {
    if (tryParseIpv6(v6[1]!) === undefined) throw bad(`"${v6[1]}" is not an IPv6 address`);
    hostIp = v6[1]!;
    spec = v6[2]!;
  }
  const parts = spec.split(":");
  if (parts.length === 3 && v6 === null) {
    hostIp = parts.shift()!;
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(hostIp)) throw bad(`"${hostIp}" is not an IPv4 address`);
  }
  if (parts.length !== 2) throw bad("expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]");
  const range = (r: string): [number, number] => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(r);
    if (!m) throw bad(`"${r}" is not a port or a range`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > 65535 || b < a) throw bad(`"${r}" is not within 1-65535`);
    return [a, b];
  };
  const [h0, h1] = range(parts[0]!);
  const [c0, c1] = range(parts[1]!);
  if (h1 - h0 !== c1 - c0) throw bad("the host and container ranges differ in length");
  const out: PortMapping[] = [];
  for (let i = 0; i <= h1 - h0; i++) {
    out.push({ protocol, hostIp, hostPort: h0 + i, containerPort: c0 + i });
  }
  return out;
}
