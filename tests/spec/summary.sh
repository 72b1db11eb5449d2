#!/usr/bin/env bash
# summary.sh [BUILD_DIR] [TIER...]: runs every spec-testsuite file on each tier (default: both)
# and prints totals and skip reasons for docs/status.md.
set -uo pipefail
build=${1:-build/release}
shift || true
tiers=${*:-baseline optimized}
runner="$build/tests/spec/flotilla-spectest"
corpus="$(cd "$(dirname "$0")/../.." && pwd)/../shared/corpus/spec-testsuite"
for tier in $tiers; do
  work=$(mktemp -d)
  log="$work/log"
  files=0 files_ok=0
  for wast in "$corpus"/*.wast; do
    files=$((files + 1))
    if "$runner" --tier "$tier" --work "$work" --cache "$build/tests/spec/cache" "$wast" >>"$log" 2>/dev/null; then
      files_ok=$((files_ok + 1))
    else
      echo "FAILED: $(basename "$wast")"
    fi
  done
  echo "$tier: $files_ok/$files files pass"
  awk '/ passed, .* failed, .* skipped$/ { p += $(NF-5); f += $(NF-3); s += $(NF-1) }
       END { printf "  commands: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
  grep '^  skipped' "$log" | sed -E 's/^  skipped ([0-9]+): (.*)/\1\t\2/' |
    awk -F'\t' '{ n[$2] += $1 } END { for (r in n) printf "  skipped %d: %s\n", n[r], r }'
  rm -rf "$work"
done
