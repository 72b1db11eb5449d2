#!/usr/bin/env bash
# inspect_corpus.sh FLOTILLA CORPUS_DIR: `flotilla inspect` of every component in the jco corpus
# must print the same world as the `.wit` file beside it (written by `jco wit`); trailing blank
# lines are ignored.
set -u
bin=$1 corpus=$2
pass=0 fail=0
for wit in "$corpus"/jco-components/runtime/*.wit "$corpus"/jco-components/jco-components/*.wit; do
  wasm=${wit%.wit}.wasm
  [ -f "$wasm" ] || continue
  if diff -B <("$bin" inspect "$wasm" 2>&1) "$wit" > /tmp/inspect_diff.$$ 2>&1; then
    pass=$((pass+1))
  else
    fail=$((fail+1))
    echo "DIFF $(basename "$wasm"):"; head -20 /tmp/inspect_diff.$$
  fi
done
rm -f /tmp/inspect_diff.$$
echo "inspect: $pass agree, $fail differ"
[ "$pass" -gt 0 ] && [ "$fail" = 0 ]
