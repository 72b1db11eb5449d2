#!/usr/bin/env bash
# Builds the release preset and runs the engine benchmarks, printing ratios computed from the
# figures of this one run. Bounded: about a minute. Set FLOTILLA_BENCH_CC=clang-19 to build the
# optimized tier with clang instead of cc.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release >/dev/null
out=build/release/bench/engine.json
build/release/bench/flotilla-bench-engine --benchmark_min_time=0.5 --benchmark_format=console \
  --benchmark_out="$out" --benchmark_out_format=json
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = {b["name"]: b["real_time"] for b in d["benchmarks"] if "error_occurred" not in b}
print("\nratio to native (same run):")
for p in ("sha256", "nbody", "sieve"):
    n = t.get(f"program/{p}/native")
    row = [f"{p:8s}"]
    for tier in ("baseline", "optimized", "optimized-guard"):
        v = t.get(f"program/{p}/{tier}")
        row.append(f"{tier} {v / n:5.2f}x" if v and n else f"{tier} n/a")
    print("  " + "   ".join(row))
ref = t.get("instantiate/reference")
mref = t.get("instantiate/mmap-reference")
for tier in ("baseline", "optimized", "optimized-guard"):
    v = t.get(f"instantiate/{tier}")
    if v: print(f"instantiate+call+drop {tier}: {v:.2f} us ({v / ref:.1f}x the 64 KiB malloc/memset/free reference {ref:.2f} us; "
                f"{v / mref:.2f}x a bare 64 KiB mmap + 2 page faults + munmap, {mref:.2f} us)")
img = t.get("instantiate/big-data/baseline/image")
noimg = t.get("instantiate/big-data/baseline/no-image")
if img and noimg:
    print(f"instantiate+call+drop 145 pages, 10,000 data segments, baseline: image {img:.1f} us, "
          f"no image {noimg:.1f} us ({noimg / img:.1f}x)")
PY
