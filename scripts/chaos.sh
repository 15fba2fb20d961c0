#!/usr/bin/env bash
# Chaos run: set up the machine (as scripts/test.sh does), start the dedicated
# `chaos` cluster and run examples/chaos against it for SECONDS (default 60):
# 8 threads of reads and writes through a pool of ClusterConnections while
# replicas are killed, SQL threads stopped, MASTER_DELAY added and the master
# stopped and restarted; then every acknowledged write is checked on every node.
#
# Usage: scripts/chaos.sh [SECONDS] [--threads N] [--seed N] [--quiet]
# Prints a one-line summary on stdout; exit status 0 when every promise held,
# 1 when one was broken, 2 when the run could not be set up.
# RUST_LOG=warn|info|debug shows the library's log lines.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

duration=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    duration=$1
    shift
fi

export CLUSTER_NAME=chaos
setup_machine

phase_start "build"
cargo build --example chaos >&2
phase_end

phase_start "chaos run (${duration} s)"
rc=0
cargo run --quiet --example chaos -- --cluster chaos --duration "$duration" "$@" || rc=$?
phase_end
exit "$rc"
