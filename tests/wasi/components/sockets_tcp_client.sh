#!/usr/bin/env bash
# wasi:sockets TCP client: `sock tcp-client` (sock/sock.c) connects to a python3 echo server on
# 127.0.0.1 (and ::1 when the host has it), sends a message, shuts its sending side down and
# prints the answer, which the server sends only after it has read the whole message; a server
# that resets the connection makes the guest's read fail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sock/lib.sh"

# client NAME HOST MESSAGE: one exchange with a fresh echo server on HOST.
client() {
  local name=$1 host=$2 msg=$3 shown
  rm -f "$work/port"
  python3 "$peer" tcp-echo "$host" "$work/port" &
  local pid=$!
  wait_file "$work/port" || { fail=1; return; }
  local port
  port=$(cat "$work/port")
  shown=$host
  [[ $host == ::1 ]] && shown=0:0:0:0:0:0:0:1
  check "$name" 0 "connected to $shown port $port"$'\n'"received: echo:$msg"$'\n' '' -- \
    "$flotilla" run --allow-tcp "$sock" tcp-client "$host" "$port" "$msg"
  wait "$pid"
  expect "$name.peer-saw-the-whole-message" test $? -eq 0
}

client tcp-client.ipv4 127.0.0.1 "hello over tcp"
# 300000 bytes from stdin (large arguments are a problem of their own): many writes (the guest
# writes 4096 bytes at a time) and reads.
head -c 225000 /dev/urandom | base64 -w 0 >"$work/big"
rm -f "$work/port"
python3 "$peer" tcp-echo 127.0.0.1 "$work/port" &
pid=$!
if wait_file "$work/port"; then
  port=$(cat "$work/port")
  { echo "connected to 127.0.0.1 port $port"; printf 'received: echo:'; cat "$work/big"; echo; } \
    >"$work/big.want"
  "$flotilla" run --allow-tcp "$sock" tcp-client 127.0.0.1 "$port" - \
    <"$work/big" >"$work/big.got" 2>"$work/big.err"
  expect tcp-client.ipv4-300000-bytes.exit-0 test $? -eq 0
  expect tcp-client.ipv4-300000-bytes.echo cmp -s "$work/big.want" "$work/big.got"
  check_file tcp-client.ipv4-300000-bytes.no-stderr "$work/big.err" ''
fi
wait "$pid"
expect tcp-client.ipv4-300000-bytes.peer-saw-the-whole-message test $? -eq 0
if have_ipv6; then
  client tcp-client.ipv6 ::1 "hello over tcp6"
else
  echo "skip tcp-client.ipv6: no IPv6 loopback on this host"
fi

# A peer that resets the connection after reading the message: the guest's read fails with the
# error the host saw, which network-error-code turns into connection-reset.
rm -f "$work/port"
python3 "$peer" tcp-reset 127.0.0.1 "$work/port" &
pid=$!
if wait_file "$work/port"; then
  port=$(cat "$work/port")
  check tcp-client.reset 1 "connected to 127.0.0.1 port $port"$'\n''read failed: Connection reset by peer (connection-reset)'$'\n' '' -- \
    "$flotilla" run --allow-tcp "$sock" tcp-client 127.0.0.1 "$port" "hello"
fi
wait "$pid"

# Without --allow-tcp the guest gets no socket, whatever else is allowed.
check tcp-client.denied 1 $'create-tcp-socket: access-denied\n' '' -- \
  "$flotilla" run --allow-udp --allow-ip-name-lookup "$sock" tcp-client 127.0.0.1 9 x
finish
