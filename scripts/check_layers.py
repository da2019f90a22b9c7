#!/usr/bin/env python3
"""Checks that every source file includes only what its layer may use (docs/architecture.md).

    python3 scripts/check_layers.py [SOURCE_ROOT]

Layers, bottom up: core (lib/core), net (transports), storage (lib/storage), session
(lib/session). A public header `dagsync/X.h` belongs to the layer whose include/ folder holds
it. Prints one line per violation and exits 1 if there is any; run by `meson test` as the
`layers` test.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)

LAYER_DIRS = {
    "core": root / "lib" / "core",
    "net": root / "transports",
    "storage": root / "lib" / "storage",
    "session": root / "lib" / "session",
}
# Which other layers' public headers each layer may include.
MAY_USE = {
    "core": {"core"},
    "net": {"net", "core-base"},
    "storage": {"storage", "core"},
    "session": {"session", "core", "net", "storage"},
}
# The core headers the network layer may use: plain bytes and the error types.
CORE_BASE = {"dagsync/bytes.h", "dagsync/error.h"}
# Third-party headers each layer must not include (by path prefix).
FORBIDDEN = {
    "core": ["asio", "spdlog", "sqlite3", "websocketpp", "fmt/", "libpq", "pthread", "thread",
             "chrono", "random", "iostream", "fstream", "filesystem"],
    "net": ["sqlite3", "libpq", "msgpack"],
    "storage": ["asio", "spdlog", "websocketpp"],
    "session": ["sqlite3", "websocketpp", "libpq"],
}
# Documented exceptions: (file relative to root, include) -> why.
ALLOWED = {
    # ids.cpp seeds random actor ids from the OS (std::random_device), the one place the
    # core touches anything outside its arguments; change_graph uses it via random_actor_id.
    ("lib/core/src/change/ids.cpp", "random"): "random actor ids",
    ("lib/core/src/graph/hash_index.cpp", "random"): "random per-index seed",
}

include_re = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def public_headers(layer):
    inc = LAYER_DIRS[layer] / "include"
    return {str(p.relative_to(inc)) for p in inc.rglob("*.h")}


owners = {}
for layer in LAYER_DIRS:
    for h in public_headers(layer):
        owners[h] = layer

problems = []
for layer, base in LAYER_DIRS.items():
    for path in sorted(list(base.rglob("*.cpp")) + list(base.rglob("*.h"))):
        rel = str(path.relative_to(root))
        for _, target in include_re.findall(path.read_text(encoding="utf-8", errors="replace")):
            owner = owners.get(target)
            if owner is not None and owner != layer:
                ok = owner in MAY_USE[layer] or ("core-base" in MAY_USE[layer] and target in CORE_BASE)
                if not ok:
                    problems.append(f"{rel}: includes {target} from the {owner} layer")
                continue
            for prefix in FORBIDDEN[layer]:
                if target == prefix or target.startswith(prefix.rstrip("/") + "/") or target.startswith(prefix + "."):
                    if (rel, prefix) not in ALLOWED:
                        problems.append(f"{rel}: the {layer} layer must not include <{target}>")

for p in problems:
    print(p)
print(f"layers: {len(problems)} violation(s)")
sys.exit(1 if problems else 0)
