#!/usr/bin/env bash
# SECURITY: the guest sees only the environment variables given with --env, never the rest
# of flotilla's own environment (here FLOTILLA_SECRET). Both program kinds.
source "$(dirname "$0")/lib.sh"

export FLOTILLA_SECRET=hunter2
for kind in $kinds; do
  prog=$wasm/env_secret.$kind.wasm
  check "env_secret.$kind.hidden" 0 $'FLOTILLA_SECRET: unset\nenviron: 0\n' '' -- \
    "$flotilla" run "$prog"
  # Other variables passed explicitly: still nothing else.
  check "env_secret.$kind.others" 0 $'FLOTILLA_SECRET: unset\nenviron: 1\nA=1\n' '' -- \
    "$flotilla" run --env A=1 -- "$prog"
  # Passed by name: the host's value; passed with a value: that value.
  check "env_secret.$kind.by-name" 0 \
    $'FLOTILLA_SECRET: hunter2\nenviron: 1\nFLOTILLA_SECRET=hunter2\n' '' -- \
    "$flotilla" run --env FLOTILLA_SECRET -- "$prog"
  check "env_secret.$kind.by-value" 0 \
    $'FLOTILLA_SECRET: other\nenviron: 1\nFLOTILLA_SECRET=other\n' '' -- \
    "$flotilla" run --env FLOTILLA_SECRET=other -- "$prog"
done
finish
