// `deno task bench`: paranoid beside its peers in one run, with medians and ratios.
//
// Start-up: a container running /bin/true with networking off, against
// `bwrap --unshare-all` and `unshare -Urpf --mount-proc`. Then the network
// (bench/network.ts): iperf3 both ways, latency, CPU per GB and peak RSS
// against slirp4netns and pasta. Then images (bench/images.ts): pull plus
// unpack against skopeo plus umoci. Run as a normal user. BENCH_SKIP_START=1,
// BENCH_SKIP_NET=1 and BENCH_SKIP_IMAGES=1 skip those parts.

import { installed, medianTime, table } from "./bench/measure.ts";
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
    const rows: { name: string; ms: number }[] = [];
    const measure = async (name: string, argv: string[]) => {
      rows.push({ name, ms: await medianTime(argv, RUNS) });
    };
    const launcher = new URL("./paranoid", import.meta.url).pathname;
    const container = ["-N", `--root=${root}`, "--", "/bin/true"];
    await measure("paranoid (scripts/paranoid: V8 flag given)", [launcher, ...container]);
    await measure("paranoid (deno run main.ts: re-executes once)", [
      deno,
      "run",
      "-A",
      "--no-config",
      main,
      ...container,
    ]);
    if (installed("bwrap")) {
      await measure("bwrap --unshare-all", [
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
      ]);
    }
    await measure("unshare -Urpf --mount-proc", ["unshare", "-Urpf", "--mount-proc", "/bin/true"]);
    await measure("deno run (empty script, reference)", [deno, "run", "--no-config", "data:,"]);
    const bwrap = rows.find((r) => r.name.startsWith("bwrap"))?.ms;
    console.log(`Start-up of /bin/true, median of ${RUNS} runs\n`);
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
