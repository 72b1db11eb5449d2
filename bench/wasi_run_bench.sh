#!/usr/bin/env bash
# `flotilla run` of a cached hello component (and of the same program as a preview1 core
# module) against the native hello process, in the same hyperfine run. Bounded: ~20 s.
#   bench/wasi_run_bench.sh [FLOTILLA]     (default build/release/src/cli/flotilla)
# Builds hello.c with clang-19 natively and to wasm32-wasi (same flags), makes the component
# with `jco new --wasi-command` (npm, pinned), fills the optimized cache with
# `flotilla compile`, then times each command with a warm cache.
set -euo pipefail
cd "$(dirname "$0")/.."
flotilla=$(realpath "${1:-build/release/src/cli/flotilla}")
out=$(realpath -m build/release/bench/wasi-run)
mkdir -p "$out" build/tmp
src=bench/programs/hello.c
clang-19 -O2 -o "$out/hello.native" "$src"
clang-19 --target=wasm32-wasi -O2 -o "$out/hello.core.wasm" "$src"
TMPDIR=$PWD/build/tmp node_modules/.bin/jco new "$out/hello.core.wasm" --wasi-command \
  -o "$out/hello.component.wasm" >/dev/null
"$flotilla" compile "$out/hello.component.wasm" >/dev/null 2>&1
"$flotilla" compile "$out/hello.core.wasm" >/dev/null 2>&1
cd "$out"
hyperfine -N --warmup 10 --runs 200 --export-json run.json \
  ./hello.native "$flotilla run hello.component.wasm" "$flotilla run hello.core.wasm" >/dev/null
python3 - run.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
native = r[0]
print(f"native hello:            {native['mean']*1e3:6.2f} ms (median {native['median']*1e3:.2f})")
for x, name in ((r[1], "flotilla run component"), (r[2], "flotilla run core module")):
    print(f"{name:24s} {x['mean']*1e3:6.2f} ms (median {x['median']*1e3:.2f})"
          f"  = {x['mean']/native['mean']:.1f}x native (medians {x['median']/native['median']:.1f}x)")
PY
