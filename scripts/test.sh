#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root), start the local MariaDB cluster
# and run the test suite. Extra arguments go to `cargo test`.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

T_ALL=$SECONDS
setup_machine

phase_start "static checks"
# The module layers (no cycle), the size limits, the minimum Rust version.
python3 scripts/check_layers.py
python3 scripts/check_sizes.py
bash scripts/check_msrv.sh
phase_end

phase_start "cargo test"
rc=0
cargo test --all-features "$@" || rc=$?
phase_end
echo "=== total: $((SECONDS - T_ALL)) s, cargo test exit status $rc" >&2
exit "$rc"
