#!/usr/bin/env bash
# known_failures.sh [BUILD_DIR]: rewrites tests/component/cm/known-failures.txt from a run of
# every converted component-model script (after a change that fixes or breaks some).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../../build/release}
runner=$build/tests/component/flotilla-cmtest
{
  echo "# Component-model reference tests that fail today (tests/component/cm_runner.cc --known-failures)."
  echo "# Each cm.* ctest passes when exactly these commands fail; regenerate with tests/component/cm/known_failures.sh."
  for f in "$build"/tests/component/cm/*/*/commands.json; do
    name=$("$runner" "$f" | awk '/^cmtest:/ {print $2}' || true)
    "$runner" -v "$f" | grep -E "^line [0-9]+: FAIL" | sed -E "s|^line ([0-9]+): .*|$name:\1|" || true
  done | sort -u
} > "$here/known-failures.txt.new"
mv "$here/known-failures.txt.new" "$here/known-failures.txt"
grep -vc '^#' "$here/known-failures.txt"
