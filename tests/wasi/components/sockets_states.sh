#!/usr/bin/env bash
# wasi:sockets error codes and state machine: `sock states CLOSED_PORT` (sock/sock.c) calls TCP
# and UDP functions in wrong states and with bad arguments and prints "check: outcome" per call:
# invalid-state, not-in-progress, concurrency-conflict, invalid-argument, would-block,
# address-in-use (a second bind to a listener's port), connection-refused (a port nothing
# listens on; the socket is closed afterwards), option round trips, and a connection to its own
# listener with shutdown and end-of-stream on both sides.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sock/lib.sh"

closed=$(python3 "$peer" free-port)
check states 0 'finish-bind before start-bind: not-in-progress
finish-connect before start-connect: not-in-progress
start-listen unbound: invalid-state
accept unbound: invalid-state
local-address unbound: invalid-state
remote-address unbound: invalid-state
shutdown unbound: invalid-state
bind to an ipv6 address: invalid-argument
connect to port 0: invalid-argument
connect to 0.0.0.0: invalid-argument
set-hop-limit 0: invalid-argument
set-hop-limit 42: ok
hop-limit: ok 42
set-keep-alive-idle-time 0: invalid-argument
set-keep-alive-idle-time 10s: ok
keep-alive-idle-time: ok 10000000000
set-listen-backlog-size 0: invalid-argument
address-family: ipv4
start-bind: ok
start-bind again before finish-bind: concurrency-conflict
finish-bind: ok
start-bind when bound: invalid-state
finish-listen before start-listen: not-in-progress
start-listen: ok
start-listen again before finish-listen: concurrency-conflict
finish-listen: ok
is-listening: yes
start-connect when listening: invalid-state
accept with no client waiting: would-block
set-listen-backlog-size 10 when listening: ok
local-address listening: ok
bind to a port in use: address-in-use
connect to a closed port: connection-refused
finish-connect after the failure: not-in-progress
start-connect after the failure: invalid-state
connect to the listener: ok
start-connect when connected: invalid-state
start-listen when connected: invalid-state
accepted peer is the client: yes
shutdown send: ok
accepted side reads: 4
client reads after the peer closed: 0
udp stream unbound: invalid-state
udp local-address unbound: invalid-state
udp start-bind: ok
udp finish-bind: ok
udp check-send: ok
udp send without an address: invalid-argument
' '' -- "$flotilla" run --allow-tcp --allow-udp "$sock" states "$closed"
finish
