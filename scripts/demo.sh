#!/usr/bin/env bash
# Set up the machine, start the `main` cluster and run the demo example
# against it (DATABASE_URL=$CLUSTER_URL). Extra arguments go to the example.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

use_main_cluster
export DEMO_CLUSTER_SCRIPT="$CLUSTER_SH"
exec cargo run --example demo -- "$@"
