#!/usr/bin/env bash
# The WASI 0.2 command components of the jco corpus (corpus jco-components/jco-components), run
# through `flotilla run` with the outputs jco's own tests expect of them.
#   jco_components.sh FLOTILLA CORPUS_DIR
set -uo pipefail
flotilla=$1
dir=$2/jco-components/jco-components
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# check NAME EXPECTED_RC EXPECTED_STDOUT EXPECTED_STDERR -- COMMAND...
check() {
  local name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$work/out" 2>"$work/err" </dev/null
  local rc=$?
  local out err
  out=$(cat "$work/out"; echo x) err=$(cat "$work/err"; echo x)
  out=${out%x} err=${err%x}
  if [[ $rc != "$want_rc" || "$out" != "$want_out" || "$err" != "$want_err" ]]; then
    echo "FAIL $name: rc=$rc (want $want_rc)"
    echo "  stdout: $(printf %q "$out") (want $(printf %q "$want_out"))"
    echo "  stderr: $(printf %q "$err") (want $(printf %q "$want_err"))"
    fail=1
  else
    echo "ok   $name"
  fi
}

check hello_stdout 0 $'writing to stdout: hello, world\n' $'writing to stderr: hello, world\n' -- \
  "$flotilla" run "$dir/hello_stdout.component.wasm"
# A UTF-8 argument through a component that transcodes to UTF-16 and back (jco's test).
check utf8-utf16 0 $'ret: asdf中文🀄️⏰asdf中文🀄️⏰\n' '' -- \
  "$flotilla" run "$dir/utf8-utf16.composed.wasm" 'asdf中文🀄️⏰'
# Resource transfer between composed components, printing through wasi:cli/stdout.
check stdio.test-stdio 0 $'Hello world\n' '' -- \
  "$flotilla" run --invoke 'test-stdio()' "$dir/stdio.composed.wasm"
# The composition virtualises the environment: the host's variables never show.
check env-allow.test-get-env 0 $'[("CUSTOM", "VAL")]\n' '' -- \
  "$flotilla" run --env SECRET=1 --invoke 'test-get-env()' "$dir/env-allow.composed.wasm"
# Blocks on stdout's pollable: the command must finish (silently), not hang.
check stdout-pollable-hang 0 '' '' -- \
  timeout 20 "$flotilla" run "$dir/stdout-pollable-hang.component.wasm"
exit $fail
