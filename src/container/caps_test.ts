// Tests for capability names, Docker's add/drop rules and /proc parsing.

import assert from "node:assert/strict";
import {
  ALL_CAPABILITIES,
  CapabilityError,
  capabilityName,
  capabilityNames,
  capabilityNumber,
  DOCKER_DEFAULT_CAPABILITIES,
  DOCKER_DEFAULT_CAPABILITY_MASK,
  hasCapability,
  maskUpTo,
  parseCapLastCap,
  parseProcStatusCaps,
  resolveCapabilities,
} from "./caps.ts";

Deno.test("caps: names and numbers match the kernel headers at both ends", () => {
  assert.equal(capabilityNumber("CAP_CHOWN"), 0);
  assert.equal(capabilityNumber("CAP_SYS_ADMIN"), 21);
  assert.equal(capabilityNumber("CAP_SETFCAP"), 31);
  assert.equal(capabilityNumber("CAP_CHECKPOINT_RESTORE"), 40);
  assert.equal(capabilityName(19), "CAP_SYS_PTRACE");
  assert.equal(capabilityName(34), "CAP_SYSLOG");
  assert.equal(ALL_CAPABILITIES, maskUpTo(40));
});

Deno.test("caps: names are accepted without the prefix and in any case", () => {
  assert.equal(capabilityNumber("sys_admin"), 21);
  assert.equal(capabilityNumber("Cap_Net_Raw"), 13);
});

Deno.test("caps: an unknown name raises an error naming the value", () => {
  assert.throws(() => capabilityNumber("CAP_FOO"), (e: unknown) => {
    assert.ok(e instanceof CapabilityError);
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, 'unknown capability "CAP_FOO"');
    return true;
  });
  assert.throws(() => resolveCapabilities(["bogus"], []), /unknown capability "bogus"/);
  assert.throws(() => capabilityName(41), CapabilityError);
});

Deno.test("caps: Docker's default set has the 14 documented capabilities", () => {
  assert.equal(DOCKER_DEFAULT_CAPABILITIES.length, 14);
  assert.equal(capabilityNames(DOCKER_DEFAULT_CAPABILITY_MASK).length, 14);
  assert.equal(resolveCapabilities([], []), DOCKER_DEFAULT_CAPABILITY_MASK);
  assert.ok(hasCapability(DOCKER_DEFAULT_CAPABILITY_MASK, "AUDIT_WRITE"));
  assert.ok(!hasCapability(DOCKER_DEFAULT_CAPABILITY_MASK, "SYS_ADMIN"));
});

Deno.test("caps: add and drop adjust the default set", () => {
  const mask = resolveCapabilities(["SYS_ADMIN"], ["net_raw", "CAP_MKNOD"]);
  assert.ok(hasCapability(mask, "CAP_SYS_ADMIN"));
  assert.ok(!hasCapability(mask, "CAP_NET_RAW"));
  assert.ok(!hasCapability(mask, "CAP_MKNOD"));
  assert.ok(hasCapability(mask, "CAP_CHOWN"));
  assert.equal(capabilityNames(mask).length, 13);
});

Deno.test("caps: drop ALL keeps only the added capabilities", () => {
  assert.deepEqual(capabilityNames(resolveCapabilities(["chown", "kill"], ["all"])), [
    "CAP_CHOWN",
    "CAP_KILL",
  ]);
  assert.equal(resolveCapabilities([], ["ALL"]), 0n);
});

Deno.test("caps: add ALL gives every capability except the dropped ones", () => {
  const mask = resolveCapabilities(["ALL"], ["SYS_MODULE"]);
  assert.equal(mask, ALL_CAPABILITIES & ~(1n << 16n));
});

Deno.test("caps: capabilityNames names unknown high bits by number", () => {
  assert.deepEqual(capabilityNames((1n << 41n) | 1n), ["CAP_CHOWN", "CAP_41"]);
  assert.deepEqual(capabilityNames(0n), []);
});

Deno.test("caps: /proc/self/status capability lines are read as masks", () => {
  const text = [
    "Name:\tsh",
    "CapInh:\t0000000000000000",
    "CapPrm:\t00000000a80425fb",
    "CapEff:\t00000000a80425fb",
    "CapBnd:\t000001ffffffffff",
    "CapAmb:\t0000000000000000",
    "NoNewPrivs:\t0",
    "",
  ].join("\n");
  const caps = parseProcStatusCaps(text);
  assert.equal(caps.inheritable, 0n);
  assert.equal(caps.permitted, 0xa80425fbn);
  assert.equal(caps.effective, DOCKER_DEFAULT_CAPABILITY_MASK);
  assert.equal(caps.bounding, ALL_CAPABILITIES);
  assert.equal(caps.ambient, 0n);
});

Deno.test("caps: /proc/self/status without CapAmb is an error naming the line", () => {
  const text = "CapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n";
  assert.throws(() => parseProcStatusCaps(text), /missing "CapAmb"/);
  assert.throws(
    () => parseProcStatusCaps(text + "CapAmb:\tzz\n"),
    /CapAmb: not a hexadecimal mask "zz"/,
  );
});

Deno.test("caps: cap_last_cap text gives the last capability number", () => {
  assert.equal(parseCapLastCap("40\n"), 40);
  assert.equal(maskUpTo(parseCapLastCap("37")), (1n << 38n) - 1n);
  assert.throws(() => parseCapLastCap("x"), /not a capability number "x"/);
});
