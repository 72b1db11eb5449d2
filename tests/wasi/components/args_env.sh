#!/usr/bin/env bash
# Arguments, environment and exit status, for both program kinds.
#   args_env CODE NAME...: prints argv, then NAME=value or "NAME unset", exits with CODE.
# A preview1 core module exits with any status; a component goes through wasi:cli/exit@0.2,
# whose `exit` takes result<_, _>: the adapter maps every non-zero status to err, so the
# process status is 1.
source "$(dirname "$0")/lib.sh"

for kind in $kinds; do
  prog=$wasm/args_env.$kind.wasm
  if [[ $kind == core ]]; then seven=7 max=255; else seven=1 max=1; fi

  check "args_env.$kind.plain" 0 "argc=2
argv[0]=$prog
argv[1]=0
" '' -- "$flotilla" run "$prog" 0

  # Awkward arguments: spaces, UTF-8, an empty one, things that look like options.
  check "args_env.$kind.args" 0 "argc=7
argv[0]=$prog
argv[1]=0
argv[2]=two words
argv[3]=ünïcødé ✓
argv[4]=
argv[5]=--env
argv[6]=-x
two words unset
ünïcødé ✓ unset
 unset
--env unset
-x unset
" '' -- "$flotilla" run "$prog" 0 'two words' 'ünïcødé ✓' '' --env -x

  # --env NAME=VALUE (also empty and with '='), --env NAME taking the host's value, --env of a
  # name the host lacks (left out), and host variables not passed (HOME, PATH: unset).
  export FLOTILLA_FROM_HOST='host value'
  unset FLOTILLA_NOT_ON_HOST
  check "args_env.$kind.env" 0 "argc=9
argv[0]=$prog
argv[1]=0
argv[2]=A
argv[3]=EMPTY
argv[4]=EQ
argv[5]=FLOTILLA_FROM_HOST
argv[6]=FLOTILLA_NOT_ON_HOST
argv[7]=HOME
argv[8]=PATH
A=x y
EMPTY=
EQ=a=b
FLOTILLA_FROM_HOST=host value
FLOTILLA_NOT_ON_HOST unset
HOME unset
PATH unset
" '' -- "$flotilla" run --env 'A=x y' --env EMPTY= --env EQ=a=b --env FLOTILLA_FROM_HOST \
    --env FLOTILLA_NOT_ON_HOST -- "$prog" 0 A EMPTY EQ FLOTILLA_FROM_HOST FLOTILLA_NOT_ON_HOST \
    HOME PATH

  # Exit status.
  check "args_env.$kind.exit7" $seven "argc=2
argv[0]=$prog
argv[1]=7
" '' -- "$flotilla" run "$prog" 7
  check "args_env.$kind.exit255" $max "argc=2
argv[0]=$prog
argv[1]=255
" '' -- "$flotilla" run "$prog" 255
done
finish
