#!/usr/bin/env bash
# run_fuzz.sh FUZZER WORKDIR SECONDS REGRESSION_DIR SEED_DIR... [-- EXTRA_LIBFUZZER_FLAGS...]
# Replays every input of REGRESSION_DIR (each must pass), then fuzzes for SECONDS from a fresh
# copy of the seeds (every *.wasm found under the SEED_DIRs). Findings land in WORKDIR/artifacts.
set -euo pipefail
fuzzer=$1 work=$2 secs=$3 regressions=$4
shift 4
seeds=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
  seeds+=("$1"); shift
done
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
n=0
for dir in "${seeds[@]}"; do
  while IFS= read -r -d '' f; do
    cp "$f" "$work/corpus/seed$((n++))_$(basename "$f")"
  done < <(find "$dir" -name '*.wasm' -print0)
done
echo "seeds: $n"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
here=$(cd "$(dirname "$0")" && pwd)
if compgen -G "$regressions/*.wasm" >/dev/null; then
  echo "replaying $(ls "$regressions"/*.wasm | wc -l) regression inputs"
  "$fuzzer" -runs=0 -timeout=10 -rss_limit_mb=4096 "$regressions"/*.wasm 2>&1 | tail -n 3
fi
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
  -dict="$here/wasm.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
  "${extra[@]}" "$work/corpus" > "$work/fuzz.log" 2>&1 || {
  rc=$?
  tail -n 60 "$work/fuzz.log"
  echo "fuzzer failed (exit $rc); inputs in $work/artifacts:"
  ls -la "$work/artifacts"
  exit $rc
}
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|DONE|cov:" "$work/fuzz.log" | tail -n 4
