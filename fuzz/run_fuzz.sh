#!/usr/bin/env bash
# run_fuzz.sh FUZZER WORKDIR SECONDS SEED_DIR REGRESSION_DIR
# Replays the regression inputs, then fuzzes for SECONDS from a fresh copy of the seeds.
set -euo pipefail
fuzzer=$1 work=$2 secs=$3 seeds=$4 regressions=$5
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/*.wasm "$work/corpus/"
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
if compgen -G "$regressions/*" >/dev/null; then
  "$fuzzer" -runs=0 "$regressions"/*
fi
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" 2>&1 | tail -n 5
