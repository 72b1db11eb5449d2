#!/usr/bin/env bash
# SECURITY: a guest must not reach anything outside its preopened directory. `escape` tries
# (see c/escape.c) with the preopen mounted at "/" and at "/sandbox", as a component and as a
# core module; every attempt must fail, and afterwards the host checks that nothing outside
# the sandbox changed and that inside it only the guest's own (relative) symlink appeared.
source "$(dirname "$0")/lib.sh"

# The sandbox and its surroundings, built afresh for each run.
setup() {
  w=$1
  rm -rf "$w"
  mkdir -p "$w/sandbox/sub" "$w/outside_dir" "$w/outside_empty"
  echo 'outside secret' >"$w/outside.txt"
  echo 'outside dir secret' >"$w/outside_dir/secret.txt"
  echo 'inside' >"$w/sandbox/inside.txt"
  ln -s "$w/outside.txt" "$w/sandbox/abs_link"
  ln -s ../outside.txt "$w/sandbox/rel_link"
  ln -s ../../outside.txt "$w/sandbox/sub/up_link"
  ln -s / "$w/sandbox/root_link"
  ln -s "$w/outside_dir" "$w/sandbox/abs_dir_link"
  ln -s ../outside_dir "$w/sandbox/rel_dir_link"
  ln -s "$w/created_by_abs_link.txt" "$w/sandbox/dangling_abs"
  ln -s ../created_by_rel_link.txt "$w/sandbox/dangling_rel"
}

# Every file's path, type, link target, link count, size, mode, mtime and content hash, below $1.
snapshot() {
  (cd "$1" && find . -printf '%p %y %l %n %s %m %T@\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

for kind in $kinds; do
  for mount in / /sandbox; do
    w=$work/$kind${mount//\//_}
    setup "$w"
    snapshot "$w" | grep -v ' \./sandbox' | grep -v '^\./sandbox' >"$w.before"
    # An absolute host path is not a path of the guest: with the preopen at "/", "/etc/passwd"
    # is looked up inside the sandbox (ENOENT); at "/sandbox", wasi-libc finds no preopen for
    # it and refuses before asking the host (ENOTCAPABLE).
    if [[ $mount == / ]]; then etc=ENOENT; else etc=ENOTCAPABLE; fi
    check "escape.$kind.mount$mount" 0 "open-dotdot: EPERM
open-dot-dotdot: EPERM
open-sub-dotdot: EPERM
open-deep-dotdot: EPERM
open-mount-dotdot-etc: EPERM
open-etc-passwd: $etc
open-abs-link: EPERM
open-rel-link: EPERM
open-sub-up-link: EPERM
open-abs-dir-link: EPERM
open-rel-dir-link: EPERM
open-root-link: EPERM
opendir-abs-dir-link: EPERM
openat-sub-dotdot: EPERM
stat-abs-link: EPERM
create-dotdot: EPERM
create-dangling-abs-link: EPERM
create-dangling-rel-link: EPERM
write-abs-link: EPERM
append-rel-link: EPERM
truncate-abs-link: EPERM
utimens-abs-link: EPERM
symlink-abs-create (info): EPERM
symlink-abs-open: ENOENT
symlink-rel-create (info): ok
symlink-rel-open: EPERM
rename-out: EPERM
rename-out-via-link: EPERM
rename-in: EPERM
link-out: EPERM
link-in: EPERM
link-in-via-link: EPERM
mkdir-dotdot: EPERM
mkdir-via-link: EPERM
rmdir-dotdot: EPERM
unlink-dotdot: EPERM
unlink-via-link: EPERM
stat-dotdot: EPERM
stat-dotdot-file: EPERM
opendir-dotdot: EPERM
chdir-dotdot: EPERM
escapes: 0
" '' -- "$flotilla" run --dir "$w/sandbox::$mount" -- "$wasm/escape.$kind.wasm" "$mount"

    # Host side: nothing outside the sandbox changed (no file created, moved, linked, removed,
    # truncated or touched) ...
    snapshot "$w" | grep -v ' \./sandbox' | grep -v '^\./sandbox' >"$w.after"
    expect "escape.$kind.mount$mount.outside-unchanged" diff "$w.before" "$w.after"
    check_file "escape.$kind.mount$mount.outside-content" "$w/outside.txt" $'outside secret\n'
    # ... and the sandbox holds what it held plus the guest's relative symlink, nothing else.
    got=$(cd "$w/sandbox" && find . | sort | tr '\n' ' ')
    expect "escape.$kind.mount$mount.sandbox-listing" test "$got" = \
      ". ./abs_dir_link ./abs_link ./dangling_abs ./dangling_rel ./inside.txt ./made_rel \
./rel_dir_link ./rel_link ./root_link ./sub ./sub/up_link "
    check_file "escape.$kind.mount$mount.inside-content" "$w/sandbox/inside.txt" $'inside\n'
  done
done
finish
