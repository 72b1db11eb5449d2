#!/usr/bin/env bash
# SECURITY: wasi:sockets is refused unless allowed. sockets.wasm (wat/sockets.wat) imports
# wasi:sockets and returns the error-code the host answered (or "ok"):
#   by default                      access-denied for TCP, UDP and name lookup
#   --allow-tcp / --allow-udp /     that kind only is granted: the socket (or the lookup
#   --allow-ip-name-lookup          stream) is really made, so the guest answers "ok"
source "$(dirname "$0")/lib.sh"

prog=$wasm/sockets.wasm
for f in try-tcp try-udp try-lookup; do
  check "sockets.$f.denied" 0 $'"access-denied"\n' '' -- "$flotilla" run --invoke "$f()" "$prog"
done
# Each --allow-* flag opens only its own kind.
check sockets.allow-tcp.tcp 0 $'"ok"\n' '' -- \
  "$flotilla" run --allow-tcp --invoke 'try-tcp()' "$prog"
check sockets.allow-tcp.udp 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-tcp --invoke 'try-udp()' "$prog"
check sockets.allow-tcp.lookup 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-tcp --invoke 'try-lookup()' "$prog"
check sockets.allow-udp.udp 0 $'"ok"\n' '' -- \
  "$flotilla" run --allow-udp --invoke 'try-udp()' "$prog"
check sockets.allow-udp.tcp 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-udp --invoke 'try-tcp()' "$prog"
check sockets.allow-udp.lookup 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-udp --invoke 'try-lookup()' "$prog"
check sockets.allow-lookup.lookup 0 $'"ok"\n' '' -- \
  "$flotilla" run --allow-ip-name-lookup --invoke 'try-lookup()' "$prog"
check sockets.allow-lookup.tcp 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-ip-name-lookup --invoke 'try-tcp()' "$prog"
check sockets.allow-lookup.udp 0 $'"access-denied"\n' '' -- \
  "$flotilla" run --allow-ip-name-lookup --invoke 'try-udp()' "$prog"
finish
