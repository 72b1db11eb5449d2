#!/usr/bin/env bash
# wasi:sockets TCP server: `sock tcp-server` (sock/sock.c) binds, listens, prints its port,
# accepts one connection from a python3 client on the host, reads it to the end and answers
# "echo:" + what it read, then closes the connection (the client reads until then).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sock/lib.sh"

# serve NAME PORT MESSAGE: the guest serves one client on PORT (0: any free port).
serve() {
  local name=$1 want_port=$2 msg=$3
  "$flotilla" run --allow-tcp "$sock" tcp-server 127.0.0.1 "$want_port" \
    >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  local line port got
  line=$(wait_line "$work/$name.out" '^listening [0-9]+$')
  port=${line#listening }
  if [[ $want_port != 0 ]]; then
    expect "$name.bound-to-the-port-asked-for" test "$port" = "$want_port"
  fi
  got=$(python3 "$peer" tcp-send "${port:-1}" "$msg")
  expect "$name.client-got-the-echo" test "$got" = "echo:$msg"
  wait "$pid"
  expect "$name.exit-0" test $? -eq 0
  check_file "$name.guest-output" "$work/$name.out" \
    "listening $port"$'\n'"accepted from 127.0.0.1"$'\n'"read ${#msg} bytes: $msg"$'\n'"done"$'\n'
  check_file "$name.no-stderr" "$work/$name.err" ''
}

serve tcp-server.any-port 0 "hello from the host"
serve tcp-server.given-port "$(python3 "$peer" free-port)" "second client"

check tcp-server.denied 1 $'create-tcp-socket: access-denied\n' '' -- \
  "$flotilla" run "$sock" tcp-server 127.0.0.1 0
finish
