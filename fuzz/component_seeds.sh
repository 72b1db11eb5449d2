#!/usr/bin/env bash
# component_seeds.sh CORPUS_DIR LIFT_WASM OUT_DIR: seed inputs for fuzz_component.
# Mode byte 0x00 + a component binary (decoder mode); 0x01 + selector + memory image (lift).
set -euo pipefail
corpus=$1 lift=$2 out=$4
rm -rf "$out" && mkdir -p "$out"
n=0
for f in "$corpus"/jco-components/runtime/*.wasm "$lift" "$3"; do
  [ -f "$f" ] || continue
  [ "$(stat -c %s "$f")" -gt 200000 ] && continue
  { printf '\x00'; cat "$f"; } > "$out/decode$((n++)).wasm"
done
# Lift seeds: a return area at 0 pointing at (8, 5) then "hello"; one per export selector.
for sel in 0 1 2 3 4 5 6 7 128 129 130; do
  printf "\\x01\\x$(printf %02x $sel)\\x08\\x00\\x00\\x00\\x05\\x00\\x00\\x00hello\\x01\\x00\\x00\\x00" \
    > "$out/lift$sel.wasm"
done
touch "$out/stamp"
