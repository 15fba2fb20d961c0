# shellcheck shell=bash
# Shared set-up for test.sh and demo.sh (sourced, not run). Installs what the
# project needs on a fresh Debian 12 machine (as root) and starts the cluster.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_SH="$REPO_ROOT/scripts/cluster.sh"

phase_start() {
    PHASE_NAME=$1
    PHASE_T0=$(date +%s.%N)
    echo "=== $PHASE_NAME" >&2
}

phase_end() {
    local t1
    t1=$(date +%s.%N)
    awk -v n="$PHASE_NAME" -v a="$PHASE_T0" -v b="$t1" 'BEGIN { printf "=== %s: %.1f s\n", n, b - a }' >&2
}

deb_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

setup_machine() {
    phase_start "build tools"
    local missing=() p
    for p in build-essential pkg-config; do
        deb_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        [[ $EUID -eq 0 ]] || { echo "need root to install: ${missing[*]}" >&2; return 1; }
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
        export DCL_APT_UPDATED=1
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
    fi
    phase_end

    phase_start "MariaDB install"
    bash "$CLUSTER_SH" install
    # Galera's provider, mariadb-backup (its state transfer) and socat, for the Galera tests.
    bash "$CLUSTER_SH" --galera --name galera install
    phase_end

    if ! command -v cargo >/dev/null 2>&1 && [[ -f $HOME/.cargo/env ]]; then
        # shellcheck disable=SC1091
        source "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo not found on PATH (nor in ~/.cargo/env)" >&2; return 1; }

    phase_start "cluster start"
    bash "$CLUSTER_SH" start
    phase_end
}

# Sets the machine up, starts the `main` cluster and exports DATABASE_URL (its
# multi-host URL) for the examples run by demo.sh and web-demo.sh.
use_main_cluster() {
    export CLUSTER_NAME=main
    setup_machine
    eval "$(bash "$CLUSTER_SH" --name main urls)"
    export DATABASE_URL="$CLUSTER_URL"
    echo "DATABASE_URL=$DATABASE_URL" >&2
}
