// Tests for finding a delegated cgroup and for the refusals where there is none.

import assert from "node:assert/strict";
import {
  type CgroupFs,
  CgroupUnavailableError,
  findDelegatedCgroup,
  parseMemory,
} from "./cgroups.ts";

function fakeFs(files: Record<string, string>, writable: string[]): CgroupFs {
  return {
    readText: (p) => files[p] ?? null,
    writable: (p) => writable.includes(p),
  };
}

const refused = (re: RegExp) => (e: unknown) =>
  e instanceof CgroupUnavailableError && re.test(e.message);

Deno.test("cgroups: a v1 or hybrid machine refuses the limit and says how to delegate", () => {
  const fs = fakeFs({ "/proc/self/cgroup": "4:memory:/x\n0::/\n" }, []);
  assert.throws(
    () => findDelegatedCgroup({ memoryBytes: 1 << 26 }, fs),
    refused(/^--memory needs cgroup v2.*Delegate=yes/),
  );
});

Deno.test("cgroups: an unwritable cgroup is refused, naming it", () => {
  const fs = fakeFs({
    "/proc/self/cgroup": "0::/user.slice/s\n",
    "/sys/fs/cgroup/cgroup.controllers": "cpu memory pids",
  }, []);
  assert.throws(
    () => findDelegatedCgroup({ pids: 10 }, fs),
    refused(
      /--pids-limit needs a cgroup delegated to you, and \/sys\/fs\/cgroup\/user\.slice\/s is not writable/,
    ),
  );
});

Deno.test("cgroups: a delegated cgroup without the controller is refused, naming the controller", () => {
  const dir = "/sys/fs/cgroup/u";
  const fs = fakeFs(
    {
      "/proc/self/cgroup": "0::/u\n",
      "/sys/fs/cgroup/cgroup.controllers": "cpu memory pids",
      [`${dir}/cgroup.controllers`]: "pids",
    },
    [`${dir}/cgroup.subtree_control`, `${dir}/cgroup.procs`],
  );
  assert.throws(
    () => findDelegatedCgroup({ memoryBytes: 1 << 26, cpus: 1 }, fs),
    refused(/--memory, --cpus needs the memory, cpu controller/),
  );
  assert.equal(findDelegatedCgroup({ pids: 5 }, fs), dir);
});

Deno.test("cgroups: memory sizes parse as Docker's do", () => {
  assert.equal(parseMemory("512m"), 512 * 1024 * 1024);
  assert.equal(parseMemory("1g"), 1024 ** 3);
  assert.equal(parseMemory("1.5G"), 1.5 * 1024 ** 3);
  assert.equal(parseMemory("1k"), null);
  assert.equal(parseMemory("lots"), null);
});
