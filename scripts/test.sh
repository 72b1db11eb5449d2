#!/usr/bin/env bash
# README test command: set up, build, run every test (ctest). FLOTILLA_TEST_ASAN=1 also runs the
# ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
ctest --preset release
if [ "${FLOTILLA_TEST_ASAN:-0}" = 1 ]; then
  bash scripts/build.sh asan
  ctest --preset asan
fi
