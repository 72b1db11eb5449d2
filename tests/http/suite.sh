#!/usr/bin/env bash
# suite: runs several of the scripts here against one `flotilla serve` of COMPONENT, started
# once with FLAGS (a componentize-js component takes seconds to compile at every start), then
# checks that the server still exits 0 on SIGTERM.
#   suite.sh FLOTILLA WASM_DIR COMPONENT [FLAGS...] -- SCRIPT...
source "$(dirname "$0")/lib.sh"
shift 3
flags=()
while [[ $# -gt 0 && $1 != -- ]]; do
  flags+=("$1")
  shift
done
shift
start_server "${flags[@]}" || finish
export HTTP_TEST_BASE=$base HTTP_TEST_PID=$server_pid
for script in "$@"; do
  echo "== $script"
  bash "$here/$script.sh" "$flotilla" "$wasm" "$(basename "$component")"
  rc=$?
  if [[ $rc != 0 ]]; then
    echo "FAIL $script (exit status $rc)"
    fail=1
  fi
done
unset HTTP_TEST_BASE HTTP_TEST_PID
server_alive "after the suite"
finish
