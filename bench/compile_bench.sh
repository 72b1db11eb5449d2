#!/usr/bin/env bash
# Compile time and peak memory of each tier on a large real module: wasm-tools.core.wasm from
# the npm package @bytecodealliance/jco-transpile (installed by scripts/setup.sh).
#   bench/compile_bench.sh            baseline tier only
#   bench/compile_bench.sh --optimized  also the optimized tier (cc -O2: minutes, ~2 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release >/dev/null
wasm=$(find node_modules/@bytecodealliance/jco-transpile -name wasm-tools.core.wasm | head -n 1)
[ -n "$wasm" ] || { echo "wasm-tools.core.wasm not found (run scripts/setup.sh)"; exit 1; }
tool=build/release/bench/flotilla-bench-compile
measure() {
  local tier=$1
  /usr/bin/time -v "$tool" --tier "$tier" "$wasm" 2> build/release/bench/time.$tier.txt
  local wall rss
  wall=$(grep "Elapsed (wall clock)" build/release/bench/time.$tier.txt | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" build/release/bench/time.$tier.txt | awk '{print $NF}')
  echo "$tier: process wall $wall, peak RSS $((rss / 1024)) MB (largest of the process and its compiler children)"
}
echo "module: $wasm ($(stat -c %s "$wasm") bytes)"
measure baseline
if [ "${1:-}" = "--optimized" ]; then measure optimized; fi
