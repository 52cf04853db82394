// Tests for image reference parsing and normalisation
import assert from "node:assert/strict";
import { ImageReferenceError, parseReference } from "./reference.ts";

const D = "sha256:" + "ab".repeat(32);

const good: [string, string, string][] = [
  ["alpine", "docker.io/library/alpine:latest", "registry-1.docker.io"],
  ["alpine:3.20", "docker.io/library/alpine:3.20", "registry-1.docker.io"],
  ["library/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io"],
  ["docker.io/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io"],
  ["index.docker.io/user/app", "docker.io/user/app:latest", "registry-1.docker.io"],
  ["user/app:v1", "docker.io/user/app:v1", "registry-1.docker.io"],
  ["host:5000/ns/name:tag", "host:5000/ns/name:tag", "host:5000"],
  ["localhost/name", "localhost/name:latest", "localhost"],
  ["localhost:5000/a/b/c", "localhost:5000/a/b/c:latest", "localhost:5000"],
  ["127.0.0.1:5000/test/busybox:t", "127.0.0.1:5000/test/busybox:t", "127.0.0.1:5000"],
  ["[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000"],
  [`name@${D}`, `docker.io/library/name@${D}`, "registry-1.docker.io"],
  [`quay.io/a/b:1@${D}`, `quay.io/a/b:1@${D}`, "quay.io"],
  ["a.b/c__d-e.f_g", "a.b/c__d-e.f_g:latest", "a.b"],
];

Deno.test("reference: normalises references as Docker does", () => {
  for (const [input, canonical, host] of good) {
    const ref = parseReference(input);
    assert.equal(ref.toString(), canonical, input);
    assert.equal(ref.registryHost, host, input);
  }
});

Deno.test("reference: asks for the digest when both tag and digest are given", () => {
  const ref = parseReference(`quay.io/a/b:1@${D}`);
  assert.equal(ref.manifestReference, D);
  assert.equal(ref.tag, "1");
  assert.equal(parseReference("a").manifestReference, "latest");
});

const bad: [string, RegExp][] = [
  ["", /is empty/],
  ["Alpine", /"Alpine" must be lowercase/],
  ["alpine:", /tag "" must be/],
  ["alpine:-x", /tag "-x"/],
  ["name@sha256:abc", /digest "sha256:abc"/],
  ["host:99999/x", /port "99999"/],
  ["a//b", /component ""/],
  ["a/b-/c", /component "b-"/],
  [" alpine", /whitespace/],
  ["bad_host.-x/y", /registry host "bad_host.-x"/],
  [":tag", /repository name is empty/],
];

Deno.test("reference: rejects malformed references naming the value", () => {
  for (const [input, pattern] of bad) {
    assert.throws(() => parseReference(input), (e: unknown) => {
      assert.ok(e instanceof ImageReferenceError, input);
      assert.match(e.message, pattern, input);
      assert.ok(e.message.includes(`"${input}"`), e.message);
      return true;
    });
  }
});
