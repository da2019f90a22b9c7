#!/usr/bin/env bash
# Installs the build into a temporary destdir, then builds two programs outside the project
# against the installed headers through pkg-config and runs them:
#   consumer.cpp       the whole library (dagsync.pc);
#   consumer_core.cpp  the sync core alone (dagsync-core.pc): its flags must name no Asio,
#                      spdlog or SQLite, and the binary must need no libdagsync, libspdlog,
#                      libfmt or libsqlite3.
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
[ -f "$(dirname "$pc")/dagsync-core.pc" ] || { echo "dagsync-core.pc was not installed" >&2; exit 1; }
for h in dagsync.h core.h repo.h storage.h transport.h; do
  [ -n "$(find "$dest" -path "*/include/dagsync/$h" | head -n 1)" ] ||
    { echo "include/dagsync/$h was not installed" >&2; exit 1; }
done

export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$dest
libdir=$(dirname "$(find "$dest" -name 'libdagsync.so*' | head -n 1)")

flags=$(pkg-config --cflags --libs dagsync)
echo "pkg-config dagsync: $flags"
c++ -std=c++20 "$@" "$src/tests/install/consumer.cpp" $flags -o "$dest/consumer"
LD_LIBRARY_PATH=$libdir "$dest/consumer"

core_flags=$(pkg-config --cflags --libs dagsync-core)
echo "pkg-config dagsync-core: $core_flags"
case "$core_flags" in
  *ASIO* | *spdlog* | *sqlite* | *fmt* | *"-ldagsync "*)
    echo "dagsync-core.pc carries flags of another layer: $core_flags" >&2; exit 1 ;;
esac
c++ -std=c++20 "$@" "$src/tests/install/consumer_core.cpp" $core_flags -o "$dest/consumer_core"
needed=$(readelf -d "$dest/consumer_core" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "consumer_core needs: $needed"
for lib in libdagsync.so libspdlog libfmt libsqlite3; do
  case " $needed" in *" $lib"*) echo "the core consumer links $lib" >&2; exit 1 ;; esac
done
case " $needed" in *" libdagsync-core.so"*) ;; *) echo "the core consumer does not link libdagsync-core" >&2; exit 1 ;; esac
LD_LIBRARY_PATH=$libdir "$dest/consumer_core"
