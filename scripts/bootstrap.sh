#!/usr/bin/env bash
# Installs the Debian packages dagsync builds with, only when one is missing; with --tests,
# also what the full test run needs (clang and its libFuzzer runtime, Node.js and npm,
# Chromium);
# with --bench, Node.js and npm for the benchmark peers (bench/run.sh).
# Idempotent and quiet when everything is present; uses sudo when not root.
set -euo pipefail

packages=(
  meson ninja-build pkg-config g++
  libasio-dev libmsgpack-cxx-dev libspdlog-dev libfmt-dev doctest-dev
  libssl-dev openssl zlib1g-dev libwebsocketpp-dev libsqlite3-dev libcli11-dev libcbor-dev python3 libpq-dev
)
# postgresql: the server the PostgresStorage tests start themselves (tests/support/postgres_server.h).
# chromium (and a font for its text, only recommended by the package): the headless browser
# the page test drives (tests/browser; playwright-core downloads no browser of its own).
[ "${1:-}" = "--tests" ] && packages+=(clang libclang-rt-14-dev postgresql chromium fonts-liberation)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the WebSocket interop test (tests/node). Any node/npm on PATH will do
# (e.g. installed outside apt); the Debian packages are installed only when they are absent.
if [ "${1:-}" = "--tests" ] || [ "${1:-}" = "--bench" ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
# The PostgreSQL tests run the server as this unprivileged user when they run as root
# (initdb refuses root); without it they fall back to `nobody`.
ensure_pg_user() {
  if [ "${1:-}" = "--tests" ] && [ "$(id -u)" -eq 0 ] && ! getent passwd dagsync-pg >/dev/null; then
    useradd --system --no-create-home --shell /usr/sbin/nologin dagsync-pg 2>/dev/null || true
  fi
}
if ((${#missing[@]} == 0)); then
  ensure_pg_user "${1:-}"
  exit 0
fi

echo "bootstrap: installing missing Debian packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_pg_user "${1:-}"
echo "bootstrap: done"
