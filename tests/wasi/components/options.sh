#!/usr/bin/env bash
# `flotilla run [OPTIONS] FILE ARGS...`: the guest must get exactly FILE ARGS... as its argv,
# however the options before FILE are written (--dir and --env take one value each; `--`
# ends the options and is not an argument of the guest).
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/d"
prog=$wasm/args_env.core.wasm
want="argc=4
argv[0]=$prog
argv[1]=0
argv[2]=A
argv[3]=B
A=1
B unset
"
check options.env 0 "$want" '' -- "$flotilla" run --env A=1 "$prog" 0 A B
check options.dir 0 "$want" '' -- "$flotilla" run --env A=1 --dir "$work/d" "$prog" 0 A B
check options.dir-guest 0 "$want" '' -- "$flotilla" run --dir "$work/d::/" --env A=1 "$prog" 0 A B
check options.dashdash-after-env 0 "$want" '' -- "$flotilla" run --env A=1 -- "$prog" 0 A B
check options.dashdash-alone 0 "argc=4
argv[0]=$prog
argv[1]=0
argv[2]=A
argv[3]=B
A unset
B unset
" '' -- "$flotilla" run -- "$prog" 0 A B
finish
