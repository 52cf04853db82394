#!/usr/bin/env bash
# Runs paranoid's test suite. As root (as CI runs it), first prepares what a
# distribution has: the packages the tests drive, Deno from the npm registry,
# /dev/net/tun mode 0666, and an unprivileged user with an /etc/subuid range;
# then runs the suite as that user. As a normal user, runs the suite directly.
# The last line is always "N passed, N failed".
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DENO_VERSION=2.9.6
TEST_USER=paranoid-test
PACKAGES=(uidmap busybox-static iperf3 slirp4netns passt bubblewrap socat tcpdump
  util-linux bsdutils procps attr apache2-utils python3 docker-registry skopeo umoci ca-certificates)

say() { printf 'test.sh: %s\n' "$*" >&2; }

find_deno() {
  command -v deno 2>/dev/null && return 0
  for d in /opt/paranoid-deno/node_modules/.bin/deno "$here/node_modules/.bin/deno"; do
    [ -x "$d" ] && { echo "$d"; return 0; }
  done
  return 1
}

prepare_machine() {
  export DEBIAN_FRONTEND=noninteractive
  say "installing packages: ${PACKAGES[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null || {
    say "apt-get install failed"; return 1; }
  if ! find_deno >/dev/null; then
    command -v npm >/dev/null || apt-get install -y -qq npm >/dev/null
    say "installing deno@$DENO_VERSION from the npm registry"
    npm install --silent --prefix /opt/paranoid-deno "deno@$DENO_VERSION" >/dev/null || {
      say "npm install deno failed"; return 1; }
  fi
  # Make deno reachable on every user's PATH (never link /usr/local/bin/deno to itself).
  local real
  real=$(readlink -f "$(find_deno)")
  [ "$real" = /usr/local/bin/deno ] || ln -sf "$real" /usr/local/bin/deno
  if [ ! -e /dev/net/tun ]; then
    mkdir -p /dev/net && mknod /dev/net/tun c 10 200
  fi
  chmod 0666 /dev/net/tun
  id "$TEST_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$TEST_USER"
  for f in /etc/subuid /etc/subgid; do
    touch "$f"
    grep -q "^$TEST_USER:" "$f" || echo "$TEST_USER:300000:65536" >>"$f"
  done
}

run_suite() {
  local deno log
  deno=$(find_deno) || { say "deno is not installed: run this script as root once, or npm install deno@$DENO_VERSION"; echo "0 passed, 1 failed"; return 1; }
  log=$(mktemp)
  cd "$here" || return 1
  "$deno" test -A --v8-flags=--single-threaded --no-config --parallel \
    --ignore=dist,node_modules 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local summary passed failed
  summary=$(tr -d '\000' <"$log" | sed 's/\x1b\[[0-9;]*m//g' | grep -a -E '^(ok|FAILED) \|' | tail -n 1)
  passed=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
  rm -f "$log"
  [[ "$passed" =~ ^[0-9]+$ ]] || passed=0
  [[ "$failed" =~ ^[0-9]+$ ]] || failed=0
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  echo "$passed passed, $failed failed"
  [ "$rc" -eq 0 ]
}

if [ "$(id -u)" -eq 0 ]; then
  prepare_machine || { echo "0 passed, 1 failed"; exit 1; }
  # The checkout may sit where the test user cannot enter: run from a copy it owns.
  copy=$(mktemp -d /tmp/paranoid-suite.XXXXXX)
  cp -a "$here/." "$copy/"
  rm -rf "$copy/node_modules" "$copy/dist"
  chown -R "$TEST_USER:" "$copy"
  chmod 0755 "$copy"
  # npm settings root relies on (a registry mirror, a CA for an intercepting proxy) go along.
  npm_env=""
  if command -v npm >/dev/null 2>&1; then
    cafile=$(npm config get cafile 2>/dev/null)
    registry=$(npm config get registry 2>/dev/null)
    [ -f "$cafile" ] && npm_env="NPM_CONFIG_CAFILE='$cafile' "
    [ -n "$registry" ] && npm_env="${npm_env}NPM_CONFIG_REGISTRY='$registry' "
  fi
  su - "$TEST_USER" -c "cd '$copy' && ${npm_env}./scripts/test.sh"
  rc=$?
  rm -rf "$copy" 2>/dev/null
  exit $rc
fi

run_suite
