#!/usr/bin/env bash
# stdin streaming: a few hundred KB of random bytes through `cat` (4 KiB reads and writes),
# from a file and through pipes, must come out unchanged. Both program kinds.
source "$(dirname "$0")/lib.sh"

head -c 400000 /dev/urandom >"$work/in.bin"
for kind in $kinds; do
  # Redirected from and to files.
  "$flotilla" run "$wasm/cat.$kind.wasm" <"$work/in.bin" >"$work/out.bin" 2>"$work/err"
  rc=$?
  expect "cat.$kind.file.status" test $rc = 0
  expect "cat.$kind.file.bytes" cmp "$work/in.bin" "$work/out.bin"
  check_file "cat.$kind.file.stderr" "$work/err" $'copied 400000 bytes\n'

  # Through pipes on both sides, the writer trickling its input in pieces.
  rm -f "$work/out.bin"
  { for off in 0 100000 200000 300000; do
      tail -c +$((off + 1)) "$work/in.bin" | head -c 100000
      sleep 0.05
    done; } | "$flotilla" run "$wasm/cat.$kind.wasm" 2>"$work/err" | cat >"$work/out.bin"
  expect "cat.$kind.pipe.status" test "${PIPESTATUS[1]}" = 0
  expect "cat.$kind.pipe.bytes" cmp "$work/in.bin" "$work/out.bin"
  check_file "cat.$kind.pipe.stderr" "$work/err" $'copied 400000 bytes\n'

  # Empty input: nothing out, end of input seen at once.
  check "cat.$kind.empty" 0 '' $'copied 0 bytes\n' -- "$flotilla" run "$wasm/cat.$kind.wasm"
done
finish
