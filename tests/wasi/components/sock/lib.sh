# Helpers for the wasi:sockets scripts (sourced after ../lib.sh): the guest, the python3 peers
# and waiting for files and lines that another process writes.
sock=$wasm/sock.component.wasm
peer=$(dirname "${BASH_SOURCE[0]}")/peer.py

# wait_file PATH: waits up to 20 s for PATH to exist.
wait_file() {
  for _ in $(seq 200); do
    [[ -e $1 ]] && return 0
    sleep 0.1
  done
  echo "FAIL: $1 did not appear"
  return 1
}

# wait_line PATH REGEX: waits up to 20 s for a line of PATH matching REGEX and prints it.
wait_line() {
  for _ in $(seq 200); do
    if grep -E -m1 "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: no line matching $2 in $1" >&2
  return 1
}

# Whether the host has an IPv6 loopback to test with.
have_ipv6() {
  python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}
