#!/usr/bin/env bash
# File-system operations through a preopen, for both program kinds: what the guest reports,
# and what the host then finds on disk.
source "$(dirname "$0")/lib.sh"

for kind in $kinds; do
  prog=$wasm/fs.$kind.wasm

  # 1. A preopen mounted at "/": reads, writes, creation, renames, links, symlinks, listing,
  #    and the errors the guest must get (exists, not empty, missing, is a directory).
  s=$work/$kind/root
  mkdir -p "$s/data"
  printf 'line one\nline two\n' >"$s/data/in.txt"
  check "fs.$kind.ops" 1 "line one
line two
pread data/in.txt: one
write new.txt: ok
append new.txt: ok
hello worldexcl new.txt: EEXIST
excl fresh.txt: ok
mkdir d: ok
mkdir d: EEXIST
rename new.txt: ok
stat d/moved.txt: file 11
stat d: dir 0
link d/moved.txt: ok
symlink sl: ok
readlink sl: d/moved.txt
lstat sl: symlink 11
stat sl: file 11
truncate hard.txt: ok
hells .:
  d dir
  data dir
  fresh.txt file
  hard.txt file
  sl symlink
ls d:
  moved.txt file
rmdir d: ENOTEMPTY
unlink d/moved.txt: ok
rmdir d: ok
unlink missing: ENOENT
cat missing: ENOENT
mkdir missing/x: ENOENT
rmdir data: ENOTEMPTY
ls nope: ENOENT
write data: EISDIR
stat sl: ENOENT
" '' -- "$flotilla" run --dir "$s::/" -- "$prog" \
    cat data/in.txt pread data/in.txt 5 3 \
    write new.txt hello append new.txt ' world' cat new.txt \
    excl new.txt excl fresh.txt mkdir d mkdir d \
    rename new.txt d/moved.txt stat d/moved.txt stat d \
    link d/moved.txt hard.txt symlink d/moved.txt sl readlink sl lstat sl stat sl \
    truncate hard.txt 3 cat d/moved.txt ls . ls d \
    rmdir d unlink d/moved.txt rmdir d \
    unlink missing cat missing mkdir missing/x rmdir data ls nope write data x stat sl
  # What the host sees afterwards.
  check_file "fs.$kind.host.in" "$s/data/in.txt" $'line one\nline two\n'
  check_file "fs.$kind.host.fresh" "$s/fresh.txt" ''
  check_file "fs.$kind.host.hard" "$s/hard.txt" 'hel'
  expect "fs.$kind.host.symlink" test "$(readlink "$s/sl")" = d/moved.txt
  expect "fs.$kind.host.gone" test ! -e "$s/d" -a ! -e "$s/new.txt"
  expect "fs.$kind.host.listing" test "$(cd "$s" && find . | sort | tr '\n' ' ')" = \
    ". ./data ./data/in.txt ./fresh.txt ./hard.txt ./sl "

  # 2. Files written by the host are seen by the guest, at a mount point below "/" and at ".".
  printf 'from the host\n' >"$s/data/host.txt"
  check "fs.$kind.mount-dir" 0 "from the host
ls /mnt/data:
  host.txt file
  in.txt file
" '' -- "$flotilla" run --dir "$s::/mnt" -- "$prog" cat /mnt/data/host.txt ls /mnt/data
  check "fs.$kind.mount-dot" 0 "from the host
from the host
" '' -- "$flotilla" run --dir "$s/data::." -- "$prog" cat host.txt cat ./host.txt

  # 3. Two preopens: renames and links between them work; a path under no preopen does not.
  mkdir -p "$work/$kind/a" "$work/$kind/b"
  echo x >"$work/$kind/a/x.txt"
  echo y >"$work/$kind/a/y.txt"
  check "fs.$kind.two-preopens" 1 "rename /a/x.txt: ok
link /a/y.txt: ok
ls /a:
  y.txt file
ls /b:
  x.txt file
  y.txt file
x
rename /a/y.txt: ENOTCAPABLE
" '' -- "$flotilla" run --dir "$work/$kind/a::/a" --dir "$work/$kind/b::/b" -- "$prog" \
    rename /a/x.txt /b/x.txt link /a/y.txt /b/y.txt ls /a ls /b cat /b/x.txt \
    rename /a/y.txt /c/y.txt
  check_file "fs.$kind.two-preopens.host" "$work/$kind/b/x.txt" $'x\n'
  expect "fs.$kind.two-preopens.moved" test ! -e "$work/$kind/a/x.txt"

  # 4. No preopen at all: no file system.
  check "fs.$kind.no-preopen" 1 "cat in.txt: ENOTCAPABLE
ls /: ENOTCAPABLE
write new: ENOTCAPABLE
" '' -- "$flotilla" run "$prog" cat in.txt ls / write new x
done
finish
