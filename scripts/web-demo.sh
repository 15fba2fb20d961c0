#!/usr/bin/env bash
# Set up the machine, start the `main` cluster and run the guestbook example
# (examples/web.rs) against it: DATABASE_URL=$CLUSTER_URL, on http://127.0.0.1:$PORT/
# (PORT defaults to 3000).
#
# REPLICA_DELAY=N (optional) makes both replicas apply writes N seconds late
# (MASTER_DELAY) while the app runs, to see the pin cookie at work: a new entry
# still shows right after the redirect. The delay is removed when the app exits.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

use_main_cluster
export PORT="${PORT:-3000}"

delay="${REPLICA_DELAY:-0}"
[[ $delay =~ ^[0-9]+$ ]] || { echo "REPLICA_DELAY must be a number of seconds" >&2; exit 2; }
if ((delay > 0)); then
    trap 'bash "$CLUSTER_SH" --name main delay replica1 0; bash "$CLUSTER_SH" --name main delay replica2 0' EXIT
    bash "$CLUSTER_SH" --name main delay replica1 "$delay"
    bash "$CLUSTER_SH" --name main delay replica2 "$delay"
    echo "replicas apply writes ${delay} s late until the app exits" >&2
fi

cargo run --features axum --example web -- "$@"
