// `deno task bench`: paranoid beside its peers in one run, with medians and ratios.
//
// Start-up: a container running /bin/true with networking off, against
// `bwrap --unshare-all` and `unshare -Urpf --mount-proc`. Then the network
// (bench/network.ts): iperf3 both ways, latency, CPU per GB and peak RSS
// against slirp4netns and pasta. Then images (bench/images.ts): pull plus
// unpack against skopeo plus umoci. Run as a normal user. BENCH_SKIP_START=1,
// BENCH_SKIP_NET=1 and BENCH_SKIP_IMAGES=1 skip those parts.

import { installed, median, table, timeOnce } from "./bench/measure.ts";
import { networkBench } from "./bench/network.ts";
import { benchImages } from "./bench/images.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 20);
const main = new URL("../main.ts", import.meta.url).pathname;
const deno = Deno.execPath();

if (Deno.uid() === 0) {
  console.error("bench: run this as a normal user: rootless start-up is what is measured");
  Deno.exit(2);
}

async function busyboxRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "paranoid-bench-" });
  await Deno.chmod(root, 0o755);
  for (const d of ["bin", "proc", "dev", "sys", "tmp", "etc"]) await Deno.mkdir(`${root}/${d}`);
  await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  for (const a of ["true", "sh"]) await Deno.symlink("busybox", `${root}/bin/${a}`);
  return root;
}

async function benchStart(): Promise<void> {
  const root = await busyboxRoot();
  try {
    const launcher = new URL("./paranoid", import.meta.url).pathname;
    const container = ["-N", `--root=${root}`, "--", "/bin/true"];
    const commands: { name: string; argv: string[] }[] = [
      { name: "paranoid (scripts/paranoid: V8 flags given)", argv: [launcher, ...container] },
      {
        name: "paranoid (deno run main.ts: re-executes once)",
        argv: [deno, "run", "-A", "--no-config", main, ...container],
      },
    ];
    if (installed("bwrap")) {
      commands.push({
        name: "bwrap --unshare-all",
        argv: [
          "bwrap",
          "--unshare-all",
          "--ro-bind",
          root,
          "/",
          "--proc",
          "/proc",
          "--dev",
          "/dev",
          "/bin/true",
        ],
      });
    }
    commands.push(
      {
        name: "unshare -Urpf --mount-proc",
        argv: ["unshare", "-Urpf", "--mount-proc", "/bin/true"],
      },
      { name: "deno run (empty script, reference)", argv: [deno, "run", "--no-config", "data:,"] },
    );
    // Round by round, one run of each command per round: this machine's speed drifts over
    // seconds, and a ratio of medians taken minutes apart would measure the drift.
    for (const c of commands) await timeOnce(c.argv); // warm-up (bundle, caches)
    const times = commands.map(() => [] as number[]);
    for (let round = 0; round < RUNS; round++) {
      for (const [i, c] of commands.entries()) times[i]!.push(await timeOnce(c.argv));
    }
    const rows = commands.map((c, i) => ({ name: c.name, ms: median(times[i]!) }));
    const bwrap = rows.find((r) => r.name.startsWith("bwrap"))?.ms;
    console.log(`Start-up of /bin/true, median of ${RUNS} runs, the commands taken in turn\n`);
    console.log(
      table(
        ["what", "median ms", "vs bwrap"],
        rows.map((r) => [r.name, r.ms.toFixed(1), bwrap ? `${(r.ms / bwrap).toFixed(1)}x` : "-"]),
      ),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

if (Deno.env.get("BENCH_SKIP_START") !== "1") await benchStart();

if (Deno.env.get("BENCH_SKIP_NET") !== "1") {
  console.log("");
  console.log(await networkBench(Number(Deno.env.get("BENCH_RUNS") ?? 3)));
}

if (Deno.env.get("BENCH_SKIP_IMAGES") !== "1") {
  await benchImages(Number(Deno.env.get("BENCH_IMAGE_RUNS") ?? 5));
}
