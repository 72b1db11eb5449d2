# Helpers shared by the test scripts here (sourced, not run). Each script is called as
#   SCRIPT FLOTILLA WASM_DIR
# and gets: $flotilla, $wasm (the built programs), $work (a fresh temporary directory, removed
# on exit), check/check_file/expect, and `finish` to exit with the verdict.
set -uo pipefail
flotilla=$1
wasm=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# The program kinds built from each C source: the component (through jco's preview1 adapter)
# and the plain preview1 core module.
kinds="component core"

# check NAME WANT_RC WANT_STDOUT WANT_STDERR -- COMMAND...
# Runs COMMAND (stdin: $STDIN if set, else /dev/null) and compares its exit status, stdout and
# stderr exactly (WANT_STDERR '*' accepts any stderr).
check() {
  local name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$work/.out" 2>"$work/.err" <"${STDIN:-/dev/null}"
  local rc=$?
  local out err
  # Keep trailing newlines: command substitution would strip them.
  out=$(cat "$work/.out"; echo x) err=$(cat "$work/.err"; echo x)
  out=${out%x} err=${err%x}
  if [[ $rc != "$want_rc" || "$out" != "$want_out" ||
        ( "$want_err" != '*' && "$err" != "$want_err" ) ]]; then
    echo "FAIL $name: exit status $rc (want $want_rc)"
    if [[ "$out" != "$want_out" ]]; then
      diff -u --label 'stdout wanted' --label 'stdout got' <(printf %s "$want_out") \
        <(printf %s "$out") | sed 's/^/  /'
    fi
    echo "  stderr: $(printf %q "$err") (want $(printf %q "$want_err"))"
    fail=1
  else
    echo "ok   $name"
  fi
}

# expect NAME CONDITION...: a host-side assertion, e.g. expect "file made" test -f "$f".
expect() {
  local name=$1
  shift
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name: $*"
    fail=1
  fi
}

# check_file NAME PATH CONTENT: the host file PATH holds exactly CONTENT.
check_file() {
  local got
  if [[ ! -f $2 ]]; then
    echo "FAIL $1: $2 does not exist"
    fail=1
    return
  fi
  got=$(cat "$2"; echo x)
  got=${got%x}
  if [[ "$got" != "$3" ]]; then
    echo "FAIL $1: $2 holds $(printf %q "$got") (want $(printf %q "$3"))"
    fail=1
  else
    echo "ok   $1"
  fi
}

finish() {
  if ((fail)); then
    echo "FAILED"
  fi
  exit $fail
}
