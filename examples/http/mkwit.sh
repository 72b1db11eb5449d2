#!/bin/sh
# Writes the WIT the example handler is built against: jco's bundled WASI 0.2.12 WIT with
# versions rewritten to 0.2.10 (what componentize-js 0.23 exports), and a world exporting
# wasi:http/incoming-handler. Usage: mkwit.sh NODE_MODULES OUT
set -e
SRC=$1/@bytecodealliance/jco/lib/wit/builtin/0.2.12
OUT=$2
mkdir -p "$OUT/deps"
for p in "$SRC"/wasi-*; do
  n=$(basename "$p")
  mkdir -p "$OUT/deps/$n"
  sed -e 's/@0\.2\.12/@0.2.10/g' -e '/@unstable(feature = network-error-code)/d' \
      "$p/package.wit" > "$OUT/deps/$n/package.wit"
done
cat > "$OUT/world.wit" <<'WIT'
package flotilla:examples;
world http-hello {
  export wasi:http/incoming-handler@0.2.10;
}
WIT
