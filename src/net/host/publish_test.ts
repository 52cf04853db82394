// Tests for published-port parsing, including the bracketed IPv6 host address form.

import assert from "node:assert/strict";
import { PortPublisher } from "./publish.ts";
import { parsePublish } from "./port_mapping.ts";

Deno.test("publish: parses [::1]:HOSTPORT:CONTAINERPORT and IPv6 ranges", () => {
  assert.deepEqual(parsePublish("[::1]:8080:80"), [
    { protocol: "tcp", hostIp: "::1", hostPort: 8080, containerPort: 80 },
  ]);
  assert.deepEqual(parsePublish("[fd00::1]:53-54:53-54/udp").map((m) => m.hostIp), [
    "fd00::1",
    "fd00::1",
  ]);
  assert.equal(parsePublish("8080:80")[0]!.hostIp, "0.0.0.0");
});

Deno.test("publish: refuses a bad bracketed address", () => {
  assert.throws(() => parsePublish("[::g]:8080:80"), RangeError);
  assert.throws(() => parsePublish("[::1]:1:8080:80"), RangeError);
  assert.throws(() => parsePublish("::1:8080:80"), RangeError);
});

Deno.test("publish: a default mapping listens on ::1 as well", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const p = await PortPublisher.bind(parsePublish(`${port}:80`));
  try {
    const c = await Deno.connect({ hostname: "::1", port });
    c.close();
    const c4 = await Deno.connect({ hostname: "127.0.0.1", port });
    c4.close();
  } finally {
    p.close();
  }
});
