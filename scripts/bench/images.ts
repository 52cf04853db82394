// The image half of `deno task bench`: pull plus unpack from a loopback registry against skopeo plus umoci.

import { startRegistry, writeBusyboxLayout } from "../../tests/fixtures/registry.ts";
import { installed, median, table } from "./measure.ts";

async function timed(argv: string[], env: Record<string, string> = {}): Promise<number> {
  const t = performance.now();
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const ms = performance.now() - t;
  if (!out.success) {
    throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return ms;
}

/** Runs the image benchmark and prints its table; `runs` fresh pulls each. */
export async function benchImages(runs: number): Promise<void> {
  const deno = Deno.execPath();
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const registry = await startRegistry();
  const work = await Deno.makeTempDir({ prefix: "paranoid-bench-images-" });
  try {
    // busybox, a whiteout layer, and 32 MiB in 64 files: three layers.
    await writeBusyboxLayout(`${registry.base}/oci`, "v1", { files: 64, bytes: 512 * 1024 });
    await registry.push(`${registry.base}/oci`, "v1", "bench/image:1");
    const ref = `${registry.host}/bench/image:1`;
    const ours: number[] = [];
    const peers: number[] = [];
    const starts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const data = `${work}/data-${i}`;
      ours.push(
        await timed([deno, "run", "-A", "--no-config", main, "pull", ref], { XDG_DATA_HOME: data }),
      );
      starts.push(
        await timed([
          deno,
          "run",
          "-A",
          "--no-config",
          "--v8-flags=--single-threaded",
          main,
          "run",
          "--rm",
          "-N",
          ref,
          "--",
          "/bin/sh",
          "-c",
          "true",
        ], {
          XDG_DATA_HOME: data,
        }),
      );
      if (installed("skopeo") && installed("umoci")) {
        const layout = `${work}/layout-${i}`;
        const t1 = await timed([
          "skopeo",
          "copy",
          "--quiet",
          "--src-tls-verify=false",
          `docker://${ref}`,
          `oci:${layout}:v1`,
        ]);
        const t2 = await timed([
          "umoci",
          "unpack",
          "--rootless",
          "--image",
          `${layout}:v1`,
          `${work}/bundle-${i}`,
        ]);
        peers.push(t1 + t2);
      }
      await new Deno.Command("bash", {
        args: [
          "-c",
          `chmod -R u+w '${work}' 2>/dev/null; rm -rf '${work}'/layout-* '${work}'/bundle-*`,
        ],
      }).output();
    }
    const rows = [
      [
        "paranoid pull (download, verify, unpack in a user namespace)",
        median(ours).toFixed(0),
        "1.0x",
      ],
    ];
    if (peers.length > 0) {
      rows.push([
        "skopeo copy + umoci unpack --rootless",
        median(peers).toFixed(0),
        `${(median(peers) / median(ours)).toFixed(1)}x`,
      ]);
    } else {
      rows.push(["skopeo copy + umoci unpack --rootless", "missing", "-"]);
    }
    rows.push([
      "paranoid run --rm of the stored image, /bin/sh -c true",
      median(starts).toFixed(0),
      "-",
    ]);
    console.log(
      `\nImages: a 3-layer image (busybox, a whiteout, 32 MiB in 64 files) from a loopback registry, median of ${runs}\n`,
    );
    console.log(table(["what", "median ms", "time vs paranoid"], rows));
  } finally {
    await new Deno.Command("bash", { args: ["-c", `chmod -R u+w '${work}' 2>/dev/null; true`] })
      .output();
    for (const d of [...Deno.readDirSync(work)].map((e) => `${work}/${e.name}`)) {
      if (d.includes("data-")) {
        await new Deno.Command(deno, {
          args: ["run", "-A", "--no-config", main, "prune"],
          env: { XDG_DATA_HOME: d },
        }).output();
      }
    }
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await registry.close();
  }
}

if (import.meta.main) await benchImages(Number(Deno.env.get("BENCH_RUNS") ?? 5));
