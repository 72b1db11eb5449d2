#!/usr/bin/env bash
# End-to-end checks of `flotilla run --invoke` and `flotilla inspect` on components.
# component_cli_test.sh FLOTILLA DEMO_COMPONENT CORPUS_DIR WORK_DIR
set -u
bin=$1 demo=$2 corpus=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
export XDG_CACHE_HOME="$work/cache"
fails=0 passes=0
pass() { passes=$((passes+1)); }
fail() { echo "FAIL $*"; fails=$((fails+1)); }
# check NAME EXPECTED_EXIT EXPECTED_STDOUT COMMAND...: exact stdout and exit code.
check() {
  local name=$1 want_rc=$2 want=$3; shift 3
  local out rc
  out=$("$@" 2>/dev/null); rc=$?
  if [ "$rc" != "$want_rc" ] || [ "$out" != "$want" ]; then
    fail "$name: exit $rc (want $want_rc), stdout: $out (want $want)"
  else pass; fi
}
# check_err NAME EXPECTED_EXIT SUBSTRING COMMAND...: SUBSTRING on stderr.
check_err() {
  local name=$1 want_rc=$2 want=$3; shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" != "$want_rc" ] || [[ "$err" != *"$want"* ]]; then
    fail "$name: exit $rc (want $want_rc), stderr: $err"
  else pass; fi
}
r() { "$bin" run --invoke "$1" "$demo"; }
check greet 0 '"Hello, wasm!"' r 'greet("wasm")'
check greet-unicode 0 '"Hello, ☃ \n!"' r 'greet("☃ \n")'
check add 0 42 r 'add(2, 40)'
check add-max 0 4294967295 r 'add(4294967294, 1)'
check add-wraps 0 0 r 'add(4294967295, 1)'
check record 0 '{x: 4, y: 6}' r 'add-points({x: 1, y: 2}, {x: 3, y: 4})'
check record-any-order 0 '{x: 4, y: 6}' r 'add-points({y: 2, x: 1}, {x: 3, y: 4})'
check result-ok 0 'ok(3)' r 'div(7, 2)'
check result-err 0 'err("division by zero")' r 'div(7, 0)'
check option-some 0 'some("a")' r 'first(["a", "b"])'
check option-none 0 'none' r 'first([])'
check list 0 '[0, 1, 2]' r 'range(3)'
check list-empty 0 '[]' r 'range(0)'
check json 0 '{"ok":true,"results":["\"Hello, wasm!\""]}' "$bin" --json run --invoke 'greet("wasm")' "$demo"
check_err trap 134 'unreachable' r 'boom()'
check_err timeout 134 'interrupted' "$bin" run --timeout 0.3 --invoke 'spin()' "$demo"
check_err unknown-func 1 'no exported function named `nope`' r 'nope()'
check_err arity 1 'expected 2 arguments, got 1' r 'add(1)'
check_err arg-type 1 'argument `b`' r 'add(1, "x")'
check_err out-of-range 1 'out of range for u32' r 'add(1, 4294967296)'
check_err negative 1 'out of range for u32' r 'add(1, -1)'
check_err bad-field 1 '`z` is not a field' r 'add-points({x: 1, z: 2}, {x: 3, y: 4})'
check_err missing-field 1 'missing field `y`' r 'add-points({x: 1}, {x: 3, y: 4})'
check_err not-a-call 1 'expected a call' r 'greet'
check_err unterminated 1 'unterminated string' r 'greet("wasm)'
# exported interface functions: full name, plain name when unique
n=$corpus/jco-components/runtime/numbers.component.wasm
check iface-full 0 7 "$bin" run --invoke 'test:numbers/test#roundtrip-u8(7)' "$n"
check iface-plain 0 -128 "$bin" run --invoke 'roundtrip-s8(-128)' "$n"
check iface-f64 0 inf "$bin" run --invoke 'roundtrip-f64(inf)' "$n"
check iface-char 0 "'🚩'" "$bin" run --invoke "roundtrip-char('🚩')" "$n"
check iface-u64 0 18446744073709551615 "$bin" run --invoke 'roundtrip-u64(18446744073709551615)' "$n"
# an import the CLI does not provide traps only when called
check_err missing-import 134 'called an import the host does not provide: test:numbers/test#roundtrip-u8' "$bin" run --invoke 'test-imports()' "$n"
# inspect
out=$("$bin" inspect "$demo")
if [[ "$out" == *"export greet: func(name: string) -> string;"* && "$out" == *"export div: func(a: u32, b: u32) -> result<u32, string>;"* ]]; then pass; else fail "inspect demo: $out"; fi
check inspect-json-kind 0 component bash -c "'$bin' --json inspect '$demo' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"kind\"])'"
# malformed components are errors, not crashes
printf '\0asm\x0d\0\x01\0\x07\x05\x01\x72\x09' > "$work/bad.wasm"
check_err malformed 1 'malformed component' "$bin" inspect "$work/bad.wasm"
head -c 300 "$demo" > "$work/truncated.wasm"
check_err truncated 1 'malformed component' "$bin" run --invoke 'add(1, 2)' "$work/truncated.wasm"
echo "component cli: $passes passed, $fails failed"
[ "$fails" = 0 ]
