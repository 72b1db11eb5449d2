#!/usr/bin/env bash
# hello: stdout and stderr reach the host separately; exit status 0. Both program kinds.
source "$(dirname "$0")/lib.sh"

for kind in $kinds; do
  check "hello.$kind" 0 $'hello from C\n' $'to stderr\n' -- \
    "$flotilla" run "$wasm/hello.$kind.wasm"
  # Output into a pipe rather than a file.
  out=$("$flotilla" run "$wasm/hello.$kind.wasm" 2>/dev/null | cat)
  expect "hello.$kind.pipe" test "$out" = "hello from C"
done
finish
