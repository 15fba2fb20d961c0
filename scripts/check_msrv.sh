#!/usr/bin/env bash
# Checks the crate against its minimum Rust version (`rust-version` in Cargo.toml) as far
# as this machine allows: it has one toolchain (no rustup download of an older one), so
#  1. the dependencies are resolved for the MSRV in a scratch copy (Cargo's MSRV-aware
#     resolver, plus the pins below), and every normal dependency must declare a
#     `rust-version` no newer than ours: a user on the MSRV can build with them;
#  2. the library is built against exactly that resolution (`--locked`);
#  3. our own code's use of the standard library is checked by clippy's
#     `incompatible_msrv` lint, which reads `rust-version` (part of the normal clippy run).
# With an MSRV toolchain installed (`rustup toolchain list`), it is also built with it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
SCRATCH="$ROOT/target/msrv-check"
rm -rf "$SCRATCH/src" && mkdir -p "$SCRATCH"
cp -r "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" "$ROOT/src" "$ROOT/docs" "$ROOT/README.md" "$SCRATCH/"
cd "$SCRATCH"
# Only the library is built here: no benches, tests or examples (their files aren't copied).
python3 - <<'PY'
import re
s = open("Cargo.toml").read()
s = re.sub(r'\n\[\[(example|test|bench)\]\]\n(?:[^\[\n][^\n]*\n)*', '\n', s)
s = s.replace('[package]\n', '[package]\nautoexamples = false\nautotests = false\nautobenches = false\n', 1)
open("Cargo.toml", "w").write(s)
PY
export CARGO_TARGET_DIR="$ROOT/target/msrv"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo update --quiet
# r2d2's thread pool: 0.2.8 needs parking_lot 0.13 (Rust 1.95); 0.2.7 is the same code on
# parking_lot 0.12. A user on the MSRV runs the same `cargo update --precise`.
cargo update --quiet -p scheduled-thread-pool --precise 0.2.7
cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
seen, stack = set(), [m["resolve"]["root"]]
while stack:
    i = stack.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] is None for k in d["dep_kinds"]):
            stack.append(d["pkg"])
bad = []
for i in seen:
    rv = pkgs[i].get("rust_version")
    if rv and tuple(int(x) for x in rv.split(".")[:3]) > msrv + (0,) * (3 - len(msrv)):
        p = pkgs[i]
        bad.append(p["name"] + " " + p["version"] + " needs Rust " + rv)
for b in sorted(bad):
    print("msrv: " + b)
print(f"msrv: {len(seen) - 1} normal dependencies resolved for Rust {sys.argv[1]}, {len(bad)} newer")
sys.exit(1 if bad else 0)
' "$MSRV"
cargo build --locked --all-features --lib --quiet
echo "msrv: the library builds against the dependencies resolved for Rust $MSRV"
if rustup toolchain list 2>/dev/null | grep -q "^$MSRV"; then
    cargo "+$MSRV" build --locked --all-features --lib --quiet
    echo "msrv: built with Rust $MSRV itself"
else
    echo "msrv: no Rust $MSRV toolchain on this machine; built with $(rustc --version)"
fi
