#!/usr/bin/env bash
# Builds dist/paranoid.js (one file, esbuild) and dist/paranoid (deno compile, when its runtime is at hand).
#
# deno compile downloads its runtime (denort) from the internet; set DENORT_BIN
# to a local denort to build offline. Without either, the bundle is still made
# and one line says why the binary was not. TARGETS lists Rust target triples
# (default: x86-64 and aarch64 Linux; dist/paranoid is this machine's), with
# the V8 flag that fork() needs baked in.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mkdir -p dist
deno=$(command -v deno || echo node_modules/.bin/deno)
ESBUILD_VERSION=0.28.2

# 1. The bundle.
esbuild=dist/.tools/node_modules/.bin/esbuild
if [ ! -x "$esbuild" ]; then
  # The system's CA bundle (it holds the CA of an intercepting proxy, where there is one).
  if [ -z "${NPM_CONFIG_CAFILE:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt
  fi
  npm install --silent --no-save --prefix dist/.tools "esbuild@$ESBUILD_VERSION" >/dev/null 2>&1 || {
    echo "compile.sh: cannot install esbuild@$ESBUILD_VERSION from the npm registry" >&2
    exit 1
  }
fi
"$esbuild" main.ts --bundle --format=esm --platform=neutral --target=es2022 \
  --external:'node:*' --log-level=warning --outfile=dist/paranoid.js || exit 1
echo "compile.sh: built dist/paranoid.js (run it with: deno run -A dist/paranoid.js)"

# 2. The binary.
host_target=$(uname -m)-unknown-linux-gnu
if [ -n "${DENORT_BIN:-}" ]; then
  targets=${TARGETS-""} # a local denort serves this machine's target only
else
  targets=${TARGETS-"x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"}
fi
build_binary() {
  local target=$1 out=dist/paranoid
  # The same as CLI_V8_FLAGS in src/container/single_thread.ts (a test holds them equal).
  local v8_flags=--single-threaded,--no-lazy,--no-sparkplug,--invocation-count-for-maglev=1600
  v8_flags=$v8_flags,--invocation-count-for-maglev-osr=400,--invocation-count-for-turbofan=12000
  v8_flags=$v8_flags,--invocation-count-for-osr=2000,--invocation-count-for-early-optimization=120
  local args=(compile -A --no-config "--v8-flags=$v8_flags" --quiet)
  if [ -n "$target" ]; then
    args+=(--target "$target")
    out="dist/paranoid-$target"
  fi
  "$deno" "${args[@]}" --output "$out" main.ts || return 1
  if [ "$target" = "$host_target" ] || [ -z "$target" ]; then cp "$out" dist/paranoid 2>/dev/null || true; fi
}
if [ -n "${DENORT_BIN:-}" ] && [ ! -x "$DENORT_BIN" ]; then
  echo "compile.sh: DENORT_BIN=$DENORT_BIN is not an executable file; dist/paranoid was not built" >&2
  exit 1
fi
failed=0
for t in ${targets:-""}; do
  if ! build_binary "$t" 2>dist/.compile.log; then
    failed=1
    if grep -q 'error sending request' dist/.compile.log; then
      echo "compile.sh: dist/paranoid${t:+-$t} was not built: deno compile could not download its runtime (denort) from dl.deno.land; set DENORT_BIN to a local denort" >&2
    else
      echo "compile.sh: dist/paranoid${t:+-$t} was not built: $(grep -m1 -i error dist/.compile.log)" >&2
    fi
  fi
done
[ "$failed" -eq 0 ] && echo "compile.sh: built dist/paranoid"
exit 0
