// A tiny container root for the network bench: busybox plus the host's /usr bind-mounted read-only.

/** A root directory built for the bench, with the mount arguments it needs. */
export interface NetRoot {
  /** The root directory. */
  readonly path: string;
  /** Extra `paranoid` arguments: the host's /usr read-only and a writable /tmp (iperf3 needs one). */
  readonly mountArgs: readonly string[];
  /** Removes the directory. */
  remove(): Promise<void>;
}

/**
 * Builds a root with busybox applets in bin/, `lib -> usr/lib`, `lib64 -> usr/lib64` and an
 * empty usr/ for the host's /usr, so iperf3 and sockperf from the host run inside.
 */
export async function makeNetRoot(): Promise<NetRoot> {
  const path = await Deno.makeTempDir({ prefix: "paranoid-netbench-" });
  await Deno.chmod(path, 0o755);
  for (const d of ["bin", "usr", "proc", "dev", "sys", "tmp", "etc"]) {
    await Deno.mkdir(`${path}/${d}`);
  }
  await Deno.copyFile("/bin/busybox", `${path}/bin/busybox`);
  await Deno.chmod(`${path}/bin/busybox`, 0o755);
  for (const a of ["sh", "true", "sleep", "cat", "ip"]) {
    await Deno.symlink("busybox", `${path}/bin/${a}`);
  }
  await Deno.symlink("usr/lib", `${path}/lib`);
  await Deno.symlink("usr/lib64", `${path}/lib64`);
  return {
    path,
    mountArgs: ["-v", "/usr:/usr:ro", "--tmpfs=/tmp"],
    remove: () => Deno.remove(path, { recursive: true }),
  };
}
