// End-to-end DHCP: busybox udhcpc on a real TAP in a new network namespace gets its lease from the stack.

import assert from "node:assert/strict";
import { NetworkStack } from "../stack.ts";
import { runOnTap, tapAvailable } from "../_test_tap.ts";

const SCRIPT = `#!/bin/sh
[ "$1" = bound ] && echo "LEASE ip=$ip router=$router dns=$dns subnet=$subnet mtu=$mtu lease=$lease" >&2
exit 0
`;

Deno.test({
  name: "dhcp_server: busybox udhcpc on a TAP gets the lease",
  ignore: !tapAvailable(),
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const script = `${dir}/udhcpc.sh`;
      Deno.writeTextFileSync(script, SCRIPT, { mode: 0o755 });
      let stack: NetworkStack | undefined;
      const run = await runOnTap(
        `busybox udhcpc -f -q -n -t 5 -T 1 -i eth0 -s ${script}`,
        (send) => stack = new NetworkStack({ send }),
      );
      if (run.unsupported) {
        console.warn(`udhcpc test skipped: cannot make a TAP here: ${run.log.trim()}`);
        return;
      }
      assert.ok(run.success, run.log);
      assert.match(
        run.log,
        /LEASE ip=10\.0\.15\.2 router=10\.0\.15\.1 dns=10\.0\.15\.1 subnet=255\.255\.255\.252 mtu=65520 lease=86400/,
      );
      assert.ok(stack!.counters().events["dhcp-replies"]! >= 2);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
