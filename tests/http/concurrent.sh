#!/usr/bin/env bash
# concurrent: 200 requests at once (curl --parallel, up to 200 connections), every one 200
# with body "hello"; then 50 concurrent 64 KB echoes.
source "$(dirname "$0")/lib.sh"

start_server || finish
mkdir "$work/r"
curl -s -m 120 --parallel --parallel-max 200 --parallel-immediate -w '%{http_code}\n' \
  -o "$work/r/#1" "$base/?n=[1-200]" >"$work/codes" 2>/dev/null
n200=$(grep -cx 200 "$work/codes")
expect "200 parallel GETs: all 200 (got $n200 of $(wc -l <"$work/codes"))" test "$n200" = 200
nbody=$(cat "$work/r"/* 2>/dev/null | grep -o hello | wc -l)
bad=0
for f in "$work/r"/*; do [[ $(cat "$f") == hello ]] || bad=$((bad + 1)); done
expect "200 parallel GETs: bodies (files $(ls "$work/r" | wc -l), wrong $bad)" \
  test "$(ls "$work/r" | wc -l)" = 200 -a "$bad" = 0

head -c 65536 /dev/urandom >"$work/p"
mkdir "$work/e"
curl -s -m 120 --parallel --parallel-max 50 --parallel-immediate -w '%{http_code}\n' \
  --data-binary @"$work/p" -o "$work/e/#1" "$base/echo?n=[1-50]" >"$work/ecodes" 2>/dev/null
ok=0
for f in "$work/e"/*; do cmp -s "$f" "$work/p" && ok=$((ok + 1)); done
expect "50 parallel 64 KB echoes: all 200 and equal (200s $(grep -cx 200 "$work/ecodes"), equal $ok)" \
  test "$(grep -cx 200 "$work/ecodes")" = 50 -a "$ok" = 50
check_http "GET / after" 200 hello "$base/"
finish
