#!/usr/bin/env bash
# wasi:sockets UDP against python3 peers on 127.0.0.1:
#   udp-echo    the guest binds, receives one datagram and sends it back upper-cased to its
#               sender (an unconnected stream: send with an explicit remote-address)
#   udp-client  the guest binds to an ephemeral port, streams to the peer (a connected
#               stream: send without an address) and reads the peer's answer (also over ::1)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sock/lib.sh"

"$flotilla" run --allow-udp "$sock" udp-echo 127.0.0.1 0 >"$work/echo.out" 2>"$work/echo.err" &
pid=$!
line=$(wait_line "$work/echo.out" '^listening [0-9]+$')
port=${line#listening }
got=$(python3 "$peer" udp-send "${port:-1}" "ping me")
expect udp-echo.peer-got-the-answer test "$got" = "PING ME from port"
wait "$pid"
expect udp-echo.exit-0 test $? -eq 0
check_file udp-echo.guest-output "$work/echo.out" \
  "listening $port"$'\n''got "ping me" from 127.0.0.1'$'\n''sent "PING ME"'$'\n'

# client NAME HOST SHOWN: one exchange with a fresh answering peer on HOST.
client() {
  rm -f "$work/port"
  python3 "$peer" udp-reply "$2" "$work/port" &
  local pid=$!
  wait_file "$work/port" || { fail=1; return; }
  local port
  port=$(cat "$work/port")
  check "$1" 0 "answer \"pong:hello\" from $3"$'\n'"from the peer's port: yes"$'\n' '' -- \
    "$flotilla" run --allow-udp "$sock" udp-client "$2" "$port" hello
  wait "$pid"
  expect "$1.peer-answered" test $? -eq 0
}
client udp-client 127.0.0.1 127.0.0.1
if have_ipv6; then
  client udp-client.ipv6 ::1 0:0:0:0:0:0:0:1
else
  echo "skip udp-client.ipv6: no IPv6 loopback on this host"
fi

check udp.denied 1 $'create-udp-socket: access-denied\n' '' -- \
  "$flotilla" run --allow-tcp --allow-ip-name-lookup "$sock" udp-client 127.0.0.1 9 x
finish
