#!/usr/bin/env bash
# Installs the build into a temporary destdir, compiles tests/install/consumer.cpp against the
# installed headers through pkg-config (dagsync.pc), and runs it.
# Usage: run.sh BUILD_DIR SOURCE_DIR [extra compiler flags...]
set -euo pipefail
build=$1
src=$2
shift 2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet
pc=$(find "$dest" -name dagsync.pc | head -n 1)
[ -n "$pc" ] || { echo "dagsync.pc was not installed" >&2; exit 1; }
header=$(find "$dest" -path '*/include/dagsync/dagsync.h' | head -n 1)
[ -n "$header" ] || { echo "headers were not installed under include/dagsync/" >&2; exit 1; }

export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs dagsync)
echo "pkg-config: $flags"
c++ -std=c++20 "$@" "$src/tests/install/consumer.cpp" $flags -o "$dest/consumer"
libdir=$(dirname "$(find "$dest" -name 'libdagsync.so*' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$dest/consumer"
