// The network bench: iperf3 both ways, sockperf latency, host-side CPU per GB and peak RSS, against slirp4netns and pasta.
//
// Each peer runs the same workload in a fresh network namespace: iperf3 from the container to a
// server on the host's loopback (one stream and four), from the host to a server in the
// container through a published port, and `sockperf ping-pong --tcp` to the host. The host side
// (paranoid's deno processes, slirp4netns, pasta) is sampled from /proc while the workload runs:
// CPU time (utime+stime) from the moment the workload starts, and VmHWM. Medians of BENCH_RUNS
// runs (default 3); BENCH_NET_SECONDS sets iperf3's duration (default 3). A peer that is not
// installed is reported as missing.

import { installed, median, table } from "./measure.ts";
import { makeNetRoot, type NetRoot } from "./net_root.ts";

const CLK_TCK = 100;
const HOST_IPERF_PORT = 15201;
const HOST_SOCKPERF_PORT = 15202;
let nextPublishPort = 15300;

/** One configuration to measure. */
interface Peer {
  readonly name: string;
  readonly kind: "paranoid" | "slirp4netns" | "pasta";
  readonly mtu: number;
}

/** The outcome of one workload run. */
interface Sample {
  /** What the workload printed on stdout. */
  readonly stdout: string;
  /** Host-side CPU seconds from the workload's start to its end. */
  readonly cpuSeconds: number;
  /** Peak resident set of the largest host-side process, KiB. */
  readonly hwmKiB: number;
}

/** One workload: the command in the container, and optionally a host client once it listens. */
interface Workload {
  readonly script: string;
  readonly publish?: number;
  readonly hostClient?: (port: number) => Promise<string>;
}

/** Measured figures of a peer, medians; NaN when not measured. */
interface Result {
  c2h1: number;
  c2h4: number;
  h2c1: number;
  h2c4: number;
  latencyUs: number;
  cpuPerGB: number;
  rssMiB: number;
  error?: string;
}

interface ProcInfo {
  ppid: number;
  comm: string;
  ticks: number;
}

function readProcs(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const close = s.lastIndexOf(")");
      const comm = s.slice(s.indexOf("(") + 1, close);
      const f = s.slice(close + 2).split(" ");
      // Fields after comm: state(0) ppid(1) ... utime(11) stime(12) (proc(5)).
      out.set(pid, { ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  return out;
}

function descendants(procs: Map<number, ProcInfo>, roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(pid);
    else children.set(p.ppid, [pid]);
  }
  const seen: number[] = [];
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (!procs.has(pid)) continue;
    seen.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return seen;
}

function hwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Samples the host side while `done` is pending: CPU ticks of processes named in `hostComms`
 * under `hostRoots`, counted from when a workload process (iperf3, sockperf) appears.
 */
async function sampleHostSide(
  hostRoots: () => number[],
  hostComms: readonly string[],
  done: Promise<unknown>,
): Promise<{ cpuSeconds: number; hwmKiB: number }> {
  let finished = false;
  done.finally(() => finished = true);
  const start = new Map<number, number>();
  const last = new Map<number, number>();
  let hwm = 0;
  let started = false;
  while (!finished) {
    const procs = readProcs();
    const tree = descendants(procs, hostRoots());
    if (!started && tree.some((p) => /^(iperf3|sockperf)$/.test(procs.get(p)!.comm))) {
      started = true;
    }
    for (const pid of tree) {
      const p = procs.get(pid)!;
      if (!hostComms.some((c) => p.comm.startsWith(c))) continue;
      if (!started) start.set(pid, p.ticks);
      last.set(pid, p.ticks);
      hwm = Math.max(hwm, hwmKiB(pid));
    }
    await sleep(20);
  }
  let ticks = 0;
  for (const [pid, t] of last) ticks += t - (start.get(pid) ?? 0);
  return { cpuSeconds: ticks / CLK_TCK, hwmKiB: hwm };
}

async function output(cmd: Deno.ChildProcess, what: string): Promise<string> {
  const out = await cmd.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${what} failed (${out.code}): ${err || text.slice(-300)}`);
  }
  return text;
}

function spawn(argv: readonly string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs until `port` on 127.0.0.1 accepts (then closes that probe connection). */
async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      // An iperf3 server takes the probe for a client for a moment.
      await sleep(300);
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** Runs one workload on a peer and samples its host side. */
async function runOn(peer: Peer, root: NetRoot, gw: string, w: Workload): Promise<Sample> {
  const script = w.script.replaceAll("GW", gw);
  const port = w.publish;
  if (peer.kind === "paranoid") {
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const argv = [Deno.execPath(), "run", "-A", "--no-config", main, `--root=${root.path}`];
    argv.push(...root.mountArgs, `--mtu=${peer.mtu}`);
    if (port !== undefined) argv.push("-p", `127.0.0.1:${port}:5201`);
    argv.push("--", "/bin/sh", "-c", script);
    const child = spawn(argv);
    return await withClient(child, [child.pid], ["deno"], w, port, "paranoid");
  }
  if (peer.kind === "pasta") {
    // -f: pasta stays in the foreground, so its CPU time is sampled with the workload.
    const argv = ["pasta", "-f", "--config-net", "--mtu", String(peer.mtu), "-q"];
    if (port !== undefined) argv.push("-t", `${port}:5201`);
    else argv.push("-t", "none");
    argv.push("-u", "none", "-T", "none", "-U", "none", "--", "sh", "-c", script);
    const child = spawn(argv);
    return await withClient(child, [child.pid], ["pasta", "passt"], w, port, "pasta");
  }
  // slirp4netns: a holder process owns the namespaces, slirp4netns serves them, nsenter runs.
  const holder = new Deno.Command("unshare", {
    args: ["-Urn", "sleep", "3600"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // slirp4netns needs the holder's own network namespace to exist already.
  const ownNet = Deno.readLinkSync("/proc/self/ns/net");
  for (let i = 0; i < 200; i++) {
    try {
      if (Deno.readLinkSync(`/proc/${holder.pid}/ns/net`) !== ownNet) break;
    } catch {
      // not yet readable
    }
    await sleep(10);
  }
  const api = `${root.path}.slirp.sock`;
  const slirp = new Deno.Command("slirp4netns", {
    args: ["--configure", `--mtu=${peer.mtu}`, `--api-socket=${api}`, String(holder.pid), "tap0"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const enter = ["nsenter", "-t", String(holder.pid), "-U", "-n", "--preserve-credentials"];
  try {
    for (let i = 0;; i++) {
      const o = await new Deno.Command(enter[0]!, {
        args: [...enter.slice(1), "ip", "-4", "addr", "show", "tap0"],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (new TextDecoder().decode(o.stdout).includes("inet ")) break;
      if (i > 100) throw new Error("slirp4netns did not configure tap0");
      await sleep(50);
    }
    if (port !== undefined) await slirpForward(api, port);
    const child = spawn([...enter, "sh", "-c", script]);
    return await withClient(child, [slirp.pid, child.pid], ["slirp4netns"], w, port, "slirp4netns");
  } finally {
    for (const p of [slirp, holder]) {
      try {
        p.kill("SIGTERM");
      } catch {
        // already gone
      }
      await p.status;
    }
    await Deno.remove(api).catch(() => {});
  }
}

/** Asks slirp4netns (through its API socket) to forward 127.0.0.1:port to the guest's 5201. */
async function slirpForward(api: string, port: number): Promise<void> {
  for (let i = 0;; i++) {
    try {
      const c = await Deno.connect({ transport: "unix", path: api });
      const req = {
        execute: "add_hostfwd",
        arguments: { proto: "tcp", host_addr: "127.0.0.1", host_port: port, guest_port: 5201 },
      };
      await c.write(new TextEncoder().encode(JSON.stringify(req)));
      const buf = new Uint8Array(4096);
      const n = await c.read(buf);
      c.close();
      const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      if (!reply.includes("return")) throw new Error(`slirp4netns add_hostfwd: ${reply}`);
      return;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(50);
    }
  }
}

async function withClient(
  child: Deno.ChildProcess,
  hostRoots: number[],
  hostComms: string[],
  w: Workload,
  port: number | undefined,
  what: string,
): Promise<Sample> {
  const inside = output(child, what);
  let client: Promise<string> | undefined;
  if (w.hostClient !== undefined && port !== undefined) {
    const hc = w.hostClient;
    client = hc(port);
    client.catch(() => child.kill("SIGKILL"));
  }
  const both = Promise.allSettled([inside, client]);
  const sampled = await sampleHostSide(() => hostRoots, hostComms, both);
  const stdout = client !== undefined ? await client : await inside;
  await inside;
  return { stdout, ...sampled };
}

function iperfResult(text: string): { gbps: number; bytes: number } {
  const json = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1));
  const r = json.end.sum_received;
  return { gbps: r.bits_per_second / 1e9, bytes: r.bytes };
}

async function hostIperfClient(port: number, streams: number, seconds: number): Promise<string> {
  // The container's server may need a moment after the port is published.
  for (let i = 0;; i++) {
    const out = await new Deno.Command("iperf3", {
      args: ["-c", "127.0.0.1", "-p", String(port), "-t", String(seconds), "-P", String(streams)]
        .concat(["-J"]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    // iperf3 -J may exit 0 with an "error" member when the connection was refused.
    if (out.success && text.includes("sum_received")) return text;
    if (i >= 40) throw new Error(`iperf3 to the container failed: ${text.slice(-300)}`);
    await sleep(150);
  }
}

async function measurePeer(
  peer: Peer,
  root: NetRoot,
  gw: string,
  runs: number,
  seconds: number,
): Promise<Result> {
  const c2h = (p: number) => ({
    script: `sleep 0.3; iperf3 -c GW -p ${HOST_IPERF_PORT} -t ${seconds} -P ${p} -J; sleep 0.3`,
  });
  const h2c = (p: number): Workload => ({
    script: "iperf3 -s -1 -p 5201 >/dev/null; sleep 0.3",
    publish: nextPublishPort++,
    hostClient: (port) => hostIperfClient(port, p, seconds),
  });
  const lat: Workload = {
    script:
      `sleep 0.3; sockperf ping-pong --tcp -i GW -p ${HOST_SOCKPERF_PORT} -t 2 2>&1; sleep 0.3`,
  };
  const r = { c2h1: [], c2h4: [], h2c1: [], h2c4: [], lat: [], cpu: [], rss: [] } as Record<
    string,
    number[]
  >;
  // One failed workload (pasta's TAP queue drops can break iperf3's control connection) costs
  // its own figure, after one retry, not the peer's whole row.
  const tryRun = async (w: Workload): Promise<Sample | undefined> => {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const sample = await runOn(peer, root, gw, w);
        if (w.script.includes("sockperf") || sample.stdout.includes("sum_received")) return sample;
      } catch {
        // retried once
      }
    }
    return undefined;
  };
  const gbps = (s: Sample | undefined) => s ? iperfResult(s.stdout).gbps : NaN;
  // BENCH_NET_LATENCY_ONLY=1 measures only the request/response latency (a quick comparison).
  const latencyOnly = Deno.env.get("BENCH_NET_LATENCY_ONLY") === "1";
  for (let i = 0; i < runs; i++) {
    if (latencyOnly) {
      const l = await tryRun(lat);
      const m = l ? /avg-latency=\s*([\d.]+)/.exec(l.stdout) : null;
      r.lat!.push(m ? Number(m[1]) : NaN);
      continue;
    }
    const one = await tryRun(c2h(1));
    if (one !== undefined) {
      const res = iperfResult(one.stdout);
      r.c2h1!.push(res.gbps);
      r.cpu!.push(one.cpuSeconds / (res.bytes / 1e9));
      r.rss!.push(one.hwmKiB / 1024);
    }
    r.c2h4!.push(gbps(await tryRun(c2h(4))));
    const h1 = await tryRun(h2c(1));
    r.h2c1!.push(gbps(h1));
    r.h2c4!.push(gbps(await tryRun(h2c(4))));
    const l = await tryRun(lat);
    const m = l ? /avg-latency=\s*([\d.]+)/.exec(l.stdout) : null;
    r.lat!.push(m ? Number(m[1]) : NaN);
    r.rss!.push(Math.max(l?.hwmKiB ?? 0, h1?.hwmKiB ?? 0) / 1024);
  }
  const med = (v: number[]) => {
    const ok = v.filter((x) => !Number.isNaN(x));
    return ok.length > 0 ? median(ok) : NaN;
  };
  return {
    c2h1: med(r.c2h1!),
    c2h4: med(r.c2h4!),
    h2c1: med(r.h2c1!),
    h2c4: med(r.h2c4!),
    latencyUs: med(r.lat!),
    cpuPerGB: med(r.cpu!),
    rssMiB: r.rss!.length > 0 ? Math.max(...r.rss!) : NaN,
  };
}

function defaultGateway(): string {
  for (const line of Deno.readTextFileSync("/proc/net/route").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === "00000000" && f[2] !== undefined) {
      const v = parseInt(f[2], 16);
      return [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24].join(".");
    }
  }
  return "";
}

/**
 * Runs the network bench and returns its Markdown table (Gbit/s, with the ratio to slirp4netns at
 * the same MTU in parentheses).
 */
export async function networkBench(
  runs = Number(Deno.env.get("BENCH_RUNS") ?? 3),
  seconds = Number(Deno.env.get("BENCH_NET_SECONDS") ?? 3),
): Promise<string> {
  const peers: Peer[] = [
    { name: "paranoid", kind: "paranoid", mtu: 65520 },
    { name: "paranoid", kind: "paranoid", mtu: 1500 },
    { name: "slirp4netns", kind: "slirp4netns", mtu: 65520 },
    { name: "slirp4netns", kind: "slirp4netns", mtu: 1500 },
    { name: "pasta", kind: "pasta", mtu: 65520 },
    { name: "pasta", kind: "pasta", mtu: 1500 },
  ];
  const only = Deno.env.get("BENCH_NET_PEERS");
  const chosen = only ? peers.filter((p) => only.split(",").includes(`${p.kind}:${p.mtu}`)) : peers;
  const missing = ["iperf3", "sockperf"].filter((p) => !installed(p));
  if (missing.length > 0) return `Network bench skipped: ${missing.join(", ")} not installed`;
  const root = await makeNetRoot();
  const servers = [
    spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", String(HOST_IPERF_PORT)]),
    spawn(["sockperf", "server", "--tcp", "-i", "127.0.0.1", "-p", String(HOST_SOCKPERF_PORT)]),
  ];
  const results = new Map<Peer, Result>();
  try {
    await waitForPort(HOST_IPERF_PORT);
    await sleep(200);
    for (const peer of chosen) {
      if (peer.kind !== "paranoid" && !installed(peer.kind)) {
        results.set(peer, nanResult(`${peer.kind} is not installed`));
        continue;
      }
      const gw = peer.kind === "paranoid"
        ? "10.0.15.1"
        : peer.kind === "slirp4netns"
        ? "10.0.2.2"
        : defaultGateway();
      try {
        results.set(peer, await measurePeer(peer, root, gw, runs, seconds));
      } catch (e) {
        results.set(peer, nanResult(e instanceof Error ? e.message : String(e)));
      }
    }
  } finally {
    for (const s of servers) {
      s.kill("SIGTERM");
      await s.output();
    }
    await root.remove();
  }
  const slirpAt = (mtu: number) =>
    [...results].find(([p]) => p.kind === "slirp4netns" && p.mtu === mtu)?.[1];
  const cell = (v: number, base: number | undefined) =>
    Number.isNaN(v)
      ? "-"
      : base !== undefined && !Number.isNaN(base) && base > 0
      ? `${v.toFixed(2)} (${(v / base).toFixed(1)}x)`
      : v.toFixed(2);
  const rows = [...results].map(([p, r]) => {
    if (r.error !== undefined) return [p.name, String(p.mtu), `missing: ${r.error}`, "", "", ""];
    const s = slirpAt(p.mtu);
    return [
      p.name,
      String(p.mtu),
      cell(r.c2h1, s?.c2h1),
      cell(r.c2h4, s?.c2h4),
      cell(r.h2c1, s?.h2c1),
      cell(r.h2c4, s?.h2c4),
      Number.isNaN(r.latencyUs) ? "-" : r.latencyUs.toFixed(1),
      Number.isNaN(r.cpuPerGB) ? "-" : r.cpuPerGB.toFixed(2),
      r.rssMiB.toFixed(0),
    ];
  });
  return [
    `Network, median of ${runs} runs, iperf3 ${seconds} s; Gbit/s (ratio to slirp4netns at the ` +
    "same MTU); latency is sockperf ping-pong --tcp avg-latency (half the round trip); CPU is " +
    "the host side's utime+stime per GB received, container to host, one stream\n",
    table(
      [
        "peer",
        "MTU",
        "c->h 1",
        "c->h 4",
        "h->c 1",
        "h->c 4",
        "latency us",
        "CPU s/GB",
        "peak RSS MiB",
      ],
      rows,
    ),
  ].join("\n");
}

function nanResult(error: string): Result {
  const n = NaN;
  return { c2h1: n, c2h4: n, h2c1: n, h2c4: n, latencyUs: n, cpuPerGB: n, rssMiB: n, error };
}

if (import.meta.main) {
  console.log(await networkBench());
}
