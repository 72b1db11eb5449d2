#!/usr/bin/env bash
# wasi:sockets/ip-name-lookup: `sock lookup NAME...` prints one line per address or error.
#   localhost           127.0.0.1 (and ::1 if the host's resolver has it)
#   IP literals         themselves, without asking the resolver ([::1] too)
#   malformed names     invalid-argument (space, empty, a bad IPv4 literal, an empty label)
#   a name nobody has   name-unresolvable, or temporary-resolver-failure on a host whose
#                       resolver cannot be reached (.invalid never exists: RFC 6761)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sock/lib.sh"

"$flotilla" run --allow-ip-name-lookup "$sock" lookup localhost 127.0.0.1 ::1 '[::1]' \
  'bad name' '' 1.2.3.999 a..b no-such-host.invalid >"$work/out" 2>"$work/err"
expect lookup.exit-0 test $? -eq 0
check_file lookup.no-stderr "$work/err" ''
expect lookup.localhost-is-127.0.0.1 grep -qx 'localhost: 127.0.0.1' "$work/out"
expect lookup.localhost-only-loopback \
  test -z "$(grep '^localhost:' "$work/out" | grep -vx -e 'localhost: 127.0.0.1' \
    -e 'localhost: 0:0:0:0:0:0:0:1')"
grep -v '^localhost:' "$work/out" | grep -v '^no-such-host.invalid:' >"$work/rest"
check_file lookup.literals-and-malformed "$work/rest" \
  '127.0.0.1: 127.0.0.1
::1: 0:0:0:0:0:0:0:1
[::1]: 0:0:0:0:0:0:0:1
bad name: invalid-argument
: invalid-argument
1.2.3.999: invalid-argument
a..b: invalid-argument
'
unknown=$(grep '^no-such-host.invalid:' "$work/out")
expect lookup.unknown-name test "$unknown" = 'no-such-host.invalid: name-unresolvable' -o \
  "$unknown" = 'no-such-host.invalid: temporary-resolver-failure'

check lookup.denied 0 $'localhost: access-denied\n' '' -- \
  "$flotilla" run --allow-tcp --allow-udp "$sock" lookup localhost
finish
