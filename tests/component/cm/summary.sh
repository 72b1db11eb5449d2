#!/usr/bin/env bash
# summary.sh [BUILD_DIR]: runs every converted component-model reference test script (built by
# the component_cm_scripts target) and prints passed/failed/skipped per folder, totals, and the
# failure causes and skip reasons grouped, for docs/status.md.
set -uo pipefail
build=${1:-build/release}
runner="$build/tests/component/flotilla-cmtest"
scripts="$build/tests/component/cm"
if [[ ! -x $runner || ! -d $scripts ]]; then
  echo "summary.sh: build flotilla-cmtest and component_cm_scripts in $build first" >&2
  exit 2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
files=0 files_ok=0
for json in "$scripts"/*/*/commands.json; do
  folder=$(basename "$(dirname "$(dirname "$json")")")
  name=$(basename "$(dirname "$json")")
  files=$((files + 1))
  out=$(timeout 300 "$runner" "$json" 2>&1)
  rc=$?
  if [[ $rc -eq 0 ]]; then
    files_ok=$((files_ok + 1))
  elif ! grep -q '^cmtest: ' <<<"$out"; then
    echo "CRASHED (exit $rc): $folder/$name"
  fi
  sed "s|^|$folder\t|" <<<"$out" >>"$log"
done
echo "component-model reference tests: $files_ok/$files scripts pass"
awk -F'\t' '
  $2 ~ /^cmtest: / {
    n = split($2, w, " ")
    p[$1] += w[n - 4]; f[$1] += w[n - 2]; s[$1] += w[n]
    P += w[n - 4]; F += w[n - 2]; S += w[n]
  }
  END {
    printf "  %-12s %7s %7s %7s\n", "folder", "passed", "failed", "skipped"
    for (d in p) printf "  %-12s %7d %7d %7d\n", d, p[d], f[d], s[d] | "sort"
    close("sort")
    printf "  %-12s %7d %7d %7d\n", "total", P, F, S
  }' "$log"
echo "failure causes:"
grep -P '^[^\t]+\t  failed [0-9]+: ' "$log" | sed -E 's/^[^\t]+\t  failed ([0-9]+): (.*)/\1\t\2/' |
  awk -F'\t' '{ n[$2] += $1 } END { for (r in n) printf "  %5d  %s\n", n[r], r }' | sort -rn
echo "skip reasons:"
grep -P '^[^\t]+\t  skipped [0-9]+: ' "$log" | sed -E 's/^[^\t]+\t  skipped ([0-9]+): (.*)/\1\t\2/' |
  awk -F'\t' '{ n[$2] += $1 } END { for (r in n) printf "  %5d  %s\n", n[r], r }' | sort -rn
echo "notes:"
grep -P '^[^\t]+\t  note: [0-9]+ ' "$log" | sed -E 's/^[^\t]+\t  note: ([0-9]+) (.*)/\1\t\2/' |
  awk -F'\t' '{ n[$2] += $1 } END { for (r in n) printf "  %5d  %s\n", n[r], r }' | sort -rn
