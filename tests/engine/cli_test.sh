#!/usr/bin/env bash
# End-to-end checks of the flotilla CLI on core modules.
set -u
bin=$1 wasm=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
export XDG_CACHE_HOME="$work/cache"
fails=0 passes=0
check() { # name, expected-exit, expected-stdout-or-stderr-substring, command...
  local name=$1 want_rc=$2 want=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want_rc" ] || [[ "$out" != *"$want"* ]]; then
    echo "FAIL $name: exit $rc (want $want_rc), output: $out"; fails=$((fails+1))
  else passes=$((passes+1)); fi
}
check fac 0 "2432902008176640000" "$bin" run --tier baseline --invoke 'fac(20)' "$wasm/cli.wasm"
check multi 0 $'2.25\n1.5' "$bin" run --tier baseline --invoke 'swap(1.5, 2.25)' "$wasm/cli.wasm"
check trap 134 "trap (divide-by-zero) in div_s" "$bin" run --tier baseline --invoke 'div_s(1, 0)' "$wasm/cli.wasm"
check unknown 1 "no exported function 'nope'" "$bin" run --tier baseline --invoke 'nope()' "$wasm/cli.wasm" 
check badarg 1 "cannot parse" "$bin" run --tier baseline --invoke 'div_s(x, 1)' "$wasm/cli.wasm"
check garbage 1 "malformed module" "$bin" run --invoke 'f' /etc/hostname
check simd 1 "SIMD" "$bin" run --invoke 'lane' "$wasm/simd.wasm"
check spin 134 "interrupted" "$bin" run --tier baseline --timeout 0.2 --invoke 'spin' "$wasm/cli.wasm"
check compile 0 "optimized tier compiled" "$bin" compile "$wasm/bigmem.wasm"
check compile-hit 0 "already cached" "$bin" compile "$wasm/bigmem.wasm"
check inspect 0 '(export "fac" (func (param i64) (result i64)))' "$bin" inspect "$wasm/cli.wasm"
check inspect-imports 0 '(import "basic" "counter" (global (mut i32)))' "$bin" inspect "$wasm/importer.wasm"
check inspect-bad 1 "malformed module" "$bin" inspect /etc/hostname
out=$("$bin" inspect --json "$wasm/importer.wasm" 2>&1)
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d["imports"])==4 and len(d["exports"])==5 and d["imports"][0]["kind"]=="memory"' "$out"; then
  passes=$((passes+1)); else echo "FAIL inspect json: $out"; fails=$((fails+1)); fi
out=$("$bin" run --json --tier optimized --invoke 'div_s(84, 2)' "$wasm/cli.wasm" 2>&1)
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] and d["results"]==[42] and d["tier"]=="optimized"' "$out"; then
  passes=$((passes+1)); else echo "FAIL json: $out"; fails=$((fails+1)); fi
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
