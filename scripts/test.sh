#!/usr/bin/env bash
# README test command: set up, build and run every test with ctest, in the release build and
# in the ASan+UBSan build (the fuzz test, itself sanitized, runs once). FLOTILLA_TEST_ASAN=0
# skips the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
ctest --preset release
if [ "${FLOTILLA_TEST_ASAN:-1}" = 1 ]; then
  bash scripts/build.sh asan
  ctest --preset asan
fi
