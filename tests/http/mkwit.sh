#!/bin/sh
# mkwit.sh JCO_WIT_DIR VERSION OUT_DIR js|c
# Writes a WIT tree for wasi:http at VERSION (0.2.10 for componentize-js 0.23, 0.2.0 for the C
# components) from jco's bundled 0.2.12 snapshot (JCO_WIT_DIR = .../jco/lib/wit/builtin/0.2.12):
# every @0.2.12 becomes @VERSION and the `@unstable(feature = network-error-code)` gates are
# dropped (they otherwise break the package merge). OUT_DIR/world.wit holds one world (one only:
# `jco embed` 1.35 ignores --world-name and refuses a package with several worlds):
#   js: `handler`, exports wasi:http/incoming-handler, imports wasi:http/outgoing-handler
#   c:  `c-handler`, exports wasi:http/incoming-handler, imports only wasi:http/types,
#       wasi:http/outgoing-handler, wasi:io/streams, wasi:io/poll and
#       wasi:clocks/monotonic-clock (what the C components declare by hand)
set -e
SRC=$1
V=$2
OUT=$3
KIND=$4
mkdir -p "$OUT/deps"
for p in "$SRC"/wasi-*; do
  n=$(basename "$p")
  mkdir -p "$OUT/deps/$n"
  sed -e "s/@0\.2\.12/@$V/g" -e '/@unstable(feature = network-error-code)/d' \
      "$p/package.wit" > "$OUT/deps/$n/package.wit.tmp"
  mv "$OUT/deps/$n/package.wit.tmp" "$OUT/deps/$n/package.wit"
done
if [ "$KIND" = js ]; then
  cat > "$OUT/world.wit.tmp" <<WIT
package flotilla:http-tests;
world handler {
  import wasi:http/outgoing-handler@$V;
  export wasi:http/incoming-handler@$V;
}
WIT
else
  cat > "$OUT/world.wit.tmp" <<WIT
package flotilla:http-tests;
world c-handler {
  import wasi:http/types@$V;
  import wasi:http/outgoing-handler@$V;
  import wasi:io/streams@$V;
  import wasi:io/poll@$V;
  import wasi:clocks/monotonic-clock@$V;
  export wasi:http/incoming-handler@$V;
}
WIT
fi
mv "$OUT/world.wit.tmp" "$OUT/world.wit"
