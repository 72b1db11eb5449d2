#!/usr/bin/env bash
# echo_big: 10 MB of random bytes through POST /echo, with Content-Length and chunked, the
# answer compared by sha256; then the same while the client reads slowly (--limit-rate), so
# the guest must wait on the output stream rather than buffer.
source "$(dirname "$0")/lib.sh"

head -c 10485760 /dev/urandom >"$work/big"
want=$(sha256sum <"$work/big" | cut -d' ' -f1)
start_server || finish
got=$(curl -s -m 120 --data-binary @"$work/big" "$base/echo" | sha256sum | cut -d' ' -f1)
expect "10 MB echo, content-length" test "$got" = "$want"
got=$(curl -s -m 120 -H 'Transfer-Encoding: chunked' --data-binary @"$work/big" "$base/echo" |
      sha256sum | cut -d' ' -f1)
expect "10 MB echo, chunked upload" test "$got" = "$want"
got=$(curl -s -m 120 --limit-rate 20M --data-binary @"$work/big" "$base/echo" |
      sha256sum | cut -d' ' -f1)
expect "10 MB echo, slow reader" test "$got" = "$want"
check_http "GET / after" 200 hello "$base/"
finish
