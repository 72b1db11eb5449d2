#!/usr/bin/env bash
# README main job: set up, build, run sample modules on both tiers and a WASI component, then
# serve the JS HTTP handler of examples/http, print its URL, query it and stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
bin=build/release/src/cli/flotilla
ex=build/release/examples
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$PWD/build/cache}"
echo "== flotilla run --invoke 'fac(20)' examples/fac.wasm   (baseline tier: libtcc, in memory)"
"$bin" run --tier baseline --invoke 'fac(20)' "$ex/fac.wasm"
echo "== flotilla compile examples/fac.wasm                  (optimized tier: cc -O2, cached)"
"$bin" compile "$ex/fac.wasm"
echo "== flotilla run --tier optimized --invoke 'add(2, 40)'"
"$bin" run --tier optimized --invoke 'add(2, 40)' "$ex/fac.wasm"
echo "== a trap is reported, the exit code is non-zero"
"$bin" run --invoke 'div(1, 0)' "$ex/fac.wasm" || echo "(exit code $?)"
echo "== flotilla run --dir examples::/data --env GREETING=hi greet.component.wasm Ada Grace"
echo "   (a WASI 0.2 command component made from C: args, one passed variable, one preopen)"
"$bin" compile "$ex/greet.component.wasm"
"$bin" run --dir examples::/data --env GREETING=hi "$ex/greet.component.wasm" Ada Grace
echo "== the same program as a preview1 core module, no arguments: its exit code comes through"
"$bin" run "$ex/greet.core.wasm" || echo "(exit code $?)"
echo "== flotilla serve examples/http/hello.js, built with componentize-js (a 12 MB component)"
echo "   (first sight: the baseline tier is compiled at once, in about 15-20 s here)"
if [ -f "$ex/http-hello.wasm" ]; then
  log=$(mktemp)
  "$bin" serve --addr 127.0.0.1:8080 --tier baseline "$ex/http-hello.wasm" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q '^serving ' "$log" && break; sleep 0.2; done
  url=$(sed -n 's/^serving \(http[^ ]*\)$/\1/p' "$log")
  if [ -z "$url" ]; then cat "$log"; kill "$pid" 2>/dev/null; exit 1; fi
  echo "serving at $url"
  echo "\$ curl ${url}hello";  curl -s "${url}hello"
  echo "\$ curl -d data ${url}post"; curl -s -d data "${url}post"
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$log"
fi
