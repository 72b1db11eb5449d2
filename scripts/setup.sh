#!/usr/bin/env bash
# Installs what Flotilla needs on Debian 12: the pinned apt packages in deps/apt-packages.txt
# and the pinned npm packages in package.json / package-lock.json. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else echo "setup: run as root (or install sudo)" >&2; exit 1; fi
fi

mapfile -t pins < <(grep -v '^\s*#' deps/apt-packages.txt | sed '/^\s*$/d')
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then pins+=(nodejs npm); fi

missing=()
for pin in "${pins[@]}"; do
  name=${pin%%=*}
  if ! dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pin")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian package(s)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    # A pinned version can disappear from the mirror after a point release; take the current one.
    echo "setup: pinned versions unavailable, installing current Debian 12 versions" >&2
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]%%=*}"
  fi
fi

if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    echo "setup: installing npm packages"
    mkdir -p build/tmp
    TMPDIR="$PWD/build/tmp" npm ci --no-audit --no-fund --loglevel=error
    touch node_modules
  fi
fi
echo "setup: ok"
