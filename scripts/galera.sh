#!/usr/bin/env bash
# Local 3-node MariaDB Galera cluster on 127.0.0.1 (run by `scripts/cluster.sh --galera`,
# or by cluster.sh for any cluster whose state says KIND=galera). Reuses cluster.sh's
# helpers (sourced); each node has four ports: SQL, gcomm (group communication), IST
# (incremental state transfer) and SST (full state transfer, by mariabackup).
#
# Usage: scripts/cluster.sh --galera [--name NAME] COMMAND [ARGS]
#   NAME defaults to "galera"; the cluster lives in ${CLUSTER_ROOT:-/tmp/dcl}/NAME.
#
# Commands:
#   install             MariaDB, galera-4, mariadb-backup and socat (apt) if missing
#   start               create, or recover: start the nodes that are down (a node left by
#                       SIGKILL recovers its position with --wsrep-recover; with every node
#                       down the most advanced one bootstraps), heal partitions, end
#                       desyncs, wait until all three are Synced in one Primary component
#   stop NODE           graceful shutdown of one node
#   kill NODE           SIGKILL one node
#   start-node NODE     start one node again: it joins the cluster (IST, else SST)
#   restart NODE        stop + start-node
#   freeze NODE / thaw NODE    SIGSTOP / SIGCONT one node
#   partition NODE      isolate NODE from the group (gmcast.isolate=1): it drops to a
#                       non-primary component, the other two carry on
#   heal NODE           end the isolation; the node rejoins (IST) and syncs
#   desync NODE         SET GLOBAL wsrep_desync=ON (the node leaves the Synced state)
#   resync NODE         SET GLOBAL wsrep_desync=OFF
#   wait-synced [S]     wait until every running node is Synced (default 60 s)
#   reset               destroy + start, same ports
#   urls                shell-sourceable ports and URLs (NODE1_URL.., CLUSTER_URL)
#   sql NODE "SQL"      run SQL as root on NODE; "-" reads stdin
#   status              per node: state, ports, component, local state, ready, seqno
#   destroy             kill this cluster's nodes and remove its directory
# NODE: node1|node2|node3 (or 1|2|3, n1|n2|n3).
set -euo pipefail

DCL_SOURCE_ONLY=1
# shellcheck source=scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
unset DCL_SOURCE_ONLY

PROG=cluster.sh
NAME="${CLUSTER_NAME:-galera}"
NODES=(node1 node2 node3)
GALERA_LIB=""

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------- install

have_galera() {
    have_mariadb && find_galera_lib >/dev/null && find_bin mariabackup >/dev/null &&
        find_bin socat >/dev/null
}

find_galera_lib() {
    local f
    for f in /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so /usr/lib64/galera-4/libgalera_smm.so; do
        [[ -f $f ]] && {
            echo "$f"
            return 0
        }
    done
    return 1
}

galera_install() {
    cmd_install
    have_galera && return 0
    [[ $EUID -eq 0 ]] || die "galera-4, mariadb-backup or socat is missing and installing needs root"
    log "installing galera-4, mariadb-backup and socat with apt-get"
    {
        if [[ ${DCL_APT_UPDATED:-0} != 1 ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get update
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y galera-4 mariadb-backup socat
    } >&2 || die "apt-get failed"
    have_galera || die "Galera still missing after apt-get install"
}

# ---------------------------------------------------------------- nodes, ports, state

set_cluster() {
    [[ $NAME =~ ^[A-Za-z0-9_.-]{1,40}$ && $NAME != .* ]] ||
        die "bad cluster name '$NAME' (letters, digits, _ . -; at most 40)"
    CDIR="$CLUSTER_ROOT/$NAME"
    local s="$CDIR/node3/mysqld.sock"
    ((${#s} < 100)) || die "socket path too long (${#s} bytes): $s; use a shorter CLUSTER_ROOT"
}

canon_node() {
    case "$1" in
    node1 | n1 | 1 | g1) echo node1 ;;
    node2 | n2 | 2 | g2) echo node2 ;;
    node3 | n3 | 3 | g3) echo node3 ;;
    *) die "unknown node '$1' (node1|node2|node3, or 1|2|3)" ;;
    esac
}

node_index() { echo $((${1#node} - 1)); }

# PORT[node] is the SQL port; GPORT, IPORT, SPORT: gcomm, IST, SST.
declare -A GPORT=() IPORT=() SPORT=()

load_state() {
    PORT=() GPORT=() IPORT=() SPORT=()
    READY=0
    local f="$CDIR/state" k v n
    [[ -r $f ]] || return 1
    while IFS='=' read -r k v; do
        case "$k" in
        NODE[123]_PORT) n=node${k:4:1} && PORT[$n]=$v ;;
        NODE[123]_GCOMM_PORT) n=node${k:4:1} && GPORT[$n]=$v ;;
        NODE[123]_IST_PORT) n=node${k:4:1} && IPORT[$n]=$v ;;
        NODE[123]_SST_PORT) n=node${k:4:1} && SPORT[$n]=$v ;;
        READY) READY=$v ;;
        esac
    done <"$f"
    return 0
}

save_state() {
    local tmp="$CDIR/state.tmp" n i
    {
        echo "KIND=galera"
        for n in "${NODES[@]}"; do
            i=${n#node}
            echo "NODE${i}_PORT=${PORT[$n]:-}"
            echo "NODE${i}_GCOMM_PORT=${GPORT[$n]:-}"
            echo "NODE${i}_IST_PORT=${IPORT[$n]:-}"
            echo "NODE${i}_SST_PORT=${SPORT[$n]:-}"
        done
        echo "READY=$READY"
    } >"$tmp"
    mv -f "$tmp" "$CDIR/state"
}

default_base() {
    local h
    h=$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)
    echo $((4400 + (h % 80) * 12))
}

# free_port P: P is not reserved by another cluster, not ours already, not listening.
free_port() {
    local p=$1 n
    ((p > 1024 && p < 65000)) || return 1
    [[ $RESERVED != *" $p "* ]] || return 1
    for n in "${NODES[@]}"; do
        [[ ${PORT[$n]:-} == "$p" || ${GPORT[$n]:-} == "$p" || ${IPORT[$n]:-} == "$p" || ${SPORT[$n]:-} == "$p" ]] &&
            return 1
    done
    ! port_listening "$p"
}

# assign_ports: every node gets four ports once; kept across restarts (gcomm peers
# address each other by them), so a busy recorded port is an error, not a move.
assign_ports() {
    local n p
    load_reserved
    p=$(default_base)
    for n in "${NODES[@]}"; do
        local var
        for var in PORT GPORT IPORT SPORT; do
            local -n arr=$var
            if [[ -z ${arr[$n]:-} ]]; then
                until free_port "$p"; do p=$((p + 1)); done
                arr[$n]=$p
            fi
            unset -n arr
        done
    done
}

gcomm_address() {
    local n out=""
    for n in "${NODES[@]}"; do
        out+="${out:+,}127.0.0.1:${GPORT[$n]}"
    done
    echo "gcomm://$out"
}

write_cnf() {
    local node=$1
    {
        cnf_base "$node" 1
        cat <<EOF
default-storage-engine=InnoDB
innodb-autoinc-lock-mode=2
wsrep-on=ON
wsrep-provider=$GALERA_LIB
wsrep-cluster-name=dcl-$NAME
wsrep-cluster-address=$(gcomm_address)
wsrep-node-name=$node
wsrep-node-address=127.0.0.1:${GPORT[$node]}
wsrep-node-incoming-address=127.0.0.1:${PORT[$node]}
wsrep-sst-receive-address=127.0.0.1:${SPORT[$node]}
wsrep-sst-method=mariabackup
wsrep-sst-auth=root:
wsrep-gtid-mode=ON
wsrep-gtid-domain-id=1
gtid-domain-id=$((10 + $(node_index "$node")))
wsrep-slave-threads=2
wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:${GPORT[$node]};ist.recv_addr=127.0.0.1:${IPORT[$node]};evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.inactive_check_period=PT0.5S;evs.keepalive_period=PT0.5S;gcache.size=64M;pc.wait_prim_timeout=PT5S"
EOF
    } >"$CDIR/$node/my.cnf"
}

# Vertical SHOW STATUS values: wsrep_var NODE NAME.
wsrep_var() {
    root_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}'
}

node_synced() {
    node_up "$1" || return 1
    local v
    v=$(root_sql "$1" "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_cluster_status','wsrep_local_state','wsrep_ready')" 2>/dev/null) || return 1
    [[ $v == "Primary,4,ON" ]]
}

node_primary() {
    node_up "$1" && [[ $(wsrep_var "$1" wsrep_cluster_status) == Primary ]]
}

# launch_node NODE [extra mariadbd args...]
launch_node() {
    local node=$1 d="$CDIR/$1"
    shift
    write_cnf "$node"
    rm -f "$d/mysqld.sock"
    LOGPOS[$node]=$(stat -c %s "$d/error.log" 2>/dev/null || echo 0)
    (
        local fd
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec setsid "$MARIADBD" --defaults-file="$d/my.cnf" "$@" </dev/null >>"$d/mariadbd.out" 2>&1
    ) &
    LAUNCHED[$node]=$!
}

# recovered_position NODE: "uuid:seqno" of a stopped node: grastate.dat after a clean
# shutdown, else what mariadbd --wsrep-recover reads from InnoDB (a node left by SIGKILL
# has seqno -1 there); empty when unknown.
recovered_position() {
    local node=$1 d="$CDIR/$1" uuid seq
    uuid=$(awk '/^uuid:/ {print $2}' "$d/data/grastate.dat" 2>/dev/null || true)
    seq=$(awk '/^seqno:/ {print $2}' "$d/data/grastate.dat" 2>/dev/null || true)
    if [[ -n $uuid && $seq =~ ^[0-9]+$ ]]; then
        echo "$uuid:$seq"
        return 0
    fi
    write_cnf "$node"
    "$MARIADBD" --defaults-file="$d/my.cnf" --wsrep-recover --log-error="$d/recover.log" >/dev/null 2>&1 || true
    grep -o 'Recovered position: [0-9a-f-]*:[0-9-]*' "$d/recover.log" 2>/dev/null | tail -n1 |
        sed 's/^Recovered position: //' || true
    rm -f "$d/recover.log"
}

# start_args NODE: the options a node left by SIGKILL needs to join by IST rather than
# a full SST (what the systemd unit's galera_recovery does).
start_args() {
    local f="$CDIR/$1/data/grastate.dat" pos
    [[ -f $f ]] || return 0
    [[ $(awk '/^seqno:/ {print $2}' "$f") == -1 ]] || return 0
    pos=$(recovered_position "$1")
    [[ -n $pos ]] && echo "--wsrep-start-position=$pos"
    return 0
}

set_safe_to_bootstrap() {
    local f="$CDIR/$1/data/grastate.dat"
    [[ -f $f ]] && sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$f"
    return 0
}

# wait_synced_nodes TIMEOUT NODE...: until each is Synced in the Primary component.
wait_synced_nodes() {
    local timeout=$1 n deadline
    shift
    deadline=$((SECONDS + timeout))
    for n in "$@"; do
        until node_synced "$n"; do
            if ((SECONDS >= deadline)); then
                log "$n is not Synced after ${timeout}s (state $(wsrep_var "$n" wsrep_local_state_comment), component $(wsrep_var "$n" wsrep_cluster_status)); end of its error log:"
                tail -n 15 "$CDIR/$n/error.log" >&2 || true
                return 1
            fi
            if [[ -n ${LAUNCHED[$n]:-} ]] && ! kill -0 "${LAUNCHED[$n]}" 2>/dev/null && ! node_pid "$n" >/dev/null; then
                log "$n exited while joining; end of its error log:"
                tail -n 15 "$CDIR/$n/error.log" >&2 || true
                return 1
            fi
            sleep 0.2
        done
    done
}

# join_nodes NODE...: start stopped nodes so they join the running Primary component.
join_nodes() {
    local n todo=()
    for n in "$@"; do
        thaw_node "$n"
        node_up "$n" && continue
        local pid
        if pid=$(node_pid "$n"); then
            # Alive but silent: a joiner in state transfer has no socket yet; leave it.
            todo+=("$n")
            continue
        fi
        local extra
        extra=$(start_args "$n")
        # shellcheck disable=SC2086
        launch_node "$n" $extra
        todo+=("$n")
    done
    ((${#todo[@]})) || return 0
    wait_synced_nodes 120 "${todo[@]}"
}

# bootstrap NODE: start NODE as a new Primary component of one.
bootstrap_node() {
    local node=$1
    local extra
    extra=$(start_args "$node")
    set_safe_to_bootstrap "$node"
    # shellcheck disable=SC2086
    launch_node "$node" --wsrep-new-cluster $extra
    wait_up "$node" 60 || return 1
    wait_synced_nodes 60 "$node"
}

# ---------------------------------------------------------------- create / recover

galera_create() {
    local n t0=$SECONDS
    log "creating Galera cluster in $CDIR"
    local -A keep=() keepg=() keepi=() keeps=()
    for n in "${NODES[@]}"; do
        keep[$n]=${PORT[$n]:-} keepg[$n]=${GPORT[$n]:-} keepi[$n]=${IPORT[$n]:-} keeps[$n]=${SPORT[$n]:-}
    done
    destroy_cluster
    mkdir -p "$CDIR"
    PORT=() GPORT=() IPORT=() SPORT=()
    for n in "${NODES[@]}"; do
        [[ -n ${keep[$n]} ]] && PORT[$n]=${keep[$n]} GPORT[$n]=${keepg[$n]} IPORT[$n]=${keepi[$n]} SPORT[$n]=${keeps[$n]}
    done
    READY=0
    assign_ports
    save_state
    mkdir -p "$CDIR/node1/data"
    cp -a "$TEMPLATE/." "$CDIR/node1/data/"
    rm -f "$CDIR/node1/data/.dcl-template"
    bootstrap_node node1 || return 1
    root_sql node1 "$(provision_sql)" || return 1
    # The joiners start from a copy of node1 taken after a clean shutdown: same cluster
    # UUID and seqno, so they join with no state transfer (seconds, not an SST each).
    stop_node node1
    for n in node2 node3; do
        mkdir -p "$CDIR/$n"
        cp -a "$CDIR/node1/data" "$CDIR/$n/"
        rm -f "$CDIR/$n/data/gvwstate.dat"
    done
    bootstrap_node node1 || return 1
    join_nodes node2 node3 || return 1
    READY=1
    save_state
    log "Galera cluster created in $((SECONDS - t0)) s (ports ${PORT[node1]} ${PORT[node2]} ${PORT[node3]})"
}

# heal_all: ends isolation and desync on every running node.
heal_all() {
    local n
    for n in "${NODES[@]}"; do
        node_up "$n" || continue
        root_sql "$n" "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'; SET GLOBAL wsrep_desync=OFF" >/dev/null 2>&1 || true
    done
}

galera_recover() {
    local n up=() down=() primary=""
    for n in "${NODES[@]}"; do
        thaw_node "$n"
    done
    heal_all
    for n in "${NODES[@]}"; do
        if node_up "$n"; then up+=("$n"); else down+=("$n"); fi
    done
    # A Primary component among the running nodes (healing may take a moment).
    local i
    for ((i = 0; i < 50 && ${#up[@]} > 0; i++)); do
        for n in "${up[@]}"; do
            if node_primary "$n"; then
                primary=$n
                break 2
            fi
        done
        sleep 0.2
    done
    if [[ -z $primary && ${#up[@]} -gt 0 ]]; then
        # Running nodes without quorum: the most advanced one forms the component.
        local best="" bestseq=-2 s
        for n in "${up[@]}"; do
            s=$(wsrep_var "$n" wsrep_last_committed)
            [[ $s =~ ^[0-9]+$ ]] || s=-1
            ((s > bestseq)) && best=$n bestseq=$s
        done
        log "no Primary component: bootstrapping it on $best (seqno $bestseq)"
        root_sql "$best" "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'" || return 1
        primary=$best
    elif [[ -z $primary ]]; then
        # Every node is down: the one with the highest recovered seqno bootstraps.
        local best=node1 bestseq=-2 s
        for n in "${NODES[@]}"; do
            s=$(recovered_position "$n")
            s=${s##*:}
            [[ $s =~ ^[0-9]+$ ]] || s=-1
            log "$n: recovered seqno $s"
            ((s > bestseq)) && best=$n bestseq=$s
        done
        log "every node is down: bootstrapping on $best"
        bootstrap_node "$best" || return 1
        primary=$best
        down=()
        for n in "${NODES[@]}"; do
            [[ $n == "$best" ]] || down+=("$n")
        done
    fi
    ((${#down[@]} == 0)) || join_nodes "${down[@]}" || return 1
    wait_synced_nodes 120 "${NODES[@]}"
}

cmd_galera_start() {
    galera_install
    resolve_bins
    GALERA_LIB=$(find_galera_lib) || die "libgalera_smm.so not found"
    with_global_lock
    ensure_template
    local t0=$SECONDS
    if load_state && [[ $READY == 1 ]]; then
        if ! galera_recover; then
            log "cluster unusable, rebuilding it from scratch"
            galera_create || die "could not create the Galera cluster"
        fi
    else
        load_state || true
        galera_create || die "could not create the Galera cluster"
    fi
    release_global_lock
    log "ready in $((SECONDS - t0)) s: ports ${PORT[node1]} ${PORT[node2]} ${PORT[node3]}"
}

cmd_galera_start_node() {
    local node=$1 n
    for n in "${NODES[@]}"; do
        [[ $n != "$node" ]] && node_primary "$n" && {
            join_nodes "$node"
            return
        }
    done
    log "no running node is in a Primary component: recovering the whole cluster"
    galera_recover
}

cmd_galera_urls() {
    need_state
    local n i
    for n in "${NODES[@]}"; do
        i=${n#node}
        echo "NODE${i}_PORT=${PORT[$n]}"
        echo "NODE${i}_GCOMM_PORT=${GPORT[$n]}"
        echo "NODE${i}_URL=mysql://app:app_pw@127.0.0.1:${PORT[$n]}/app"
        echo "NODE${i}_ADMIN_URL=mysql://admin:admin_pw@127.0.0.1:${PORT[$n]}/app"
    done
    echo "CLUSTER_URL=mysql://app:app_pw@127.0.0.1:${PORT[node1]},127.0.0.1:${PORT[node2]},127.0.0.1:${PORT[node3]}/app?cluster=galera"
    echo "CLUSTER_DIR=$CDIR"
}

cmd_galera_status() {
    need_state
    local n
    printf '%-6s %-5s %-6s %-6s %-10s %-9s %-5s %-8s %s\n' NODE STATE PORT GCOMM COMPONENT LOCAL READY SEQNO GTID
    for n in "${NODES[@]}"; do
        if ! node_up "$n"; then
            printf '%-6s %-5s %-6s %-6s\n' "$n" down "${PORT[$n]}" "${GPORT[$n]}"
            continue
        fi
        local vals
        vals=$(root_sql "$n" "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_cluster_status'), (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_local_state_comment'), (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_ready'), (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_last_committed'), IFNULL(NULLIF(@@gtid_binlog_pos,''),'-')")
        local comp st rdy seq gtid
        read -r comp st rdy seq gtid <<<"$vals"
        printf '%-6s %-5s %-6s %-6s %-10s %-9s %-5s %-8s %s\n' "$n" up "${PORT[$n]}" "${GPORT[$n]}" "$comp" "$st" "$rdy" "$seq" "$gtid"
    done
}

galera_main() {
    while (($#)); do
        case "$1" in
        --name)
            [[ $# -ge 2 ]] || die "--name needs a value"
            NAME=$2
            shift 2
            ;;
        --name=*)
            NAME=${1#--name=}
            shift
            ;;
        --galera) shift ;;
        -h | --help | help)
            usage
            return 0
            ;;
        *) break ;;
        esac
    done
    (($#)) || {
        usage >&2
        exit 2
    }
    local cmd=$1 node
    shift
    set_cluster
    case "$cmd" in
    install | urls | status | sql | wait-synced) ;;
    *)
        mkdir -p "$CLUSTER_ROOT"
        exec 9>"$CLUSTER_ROOT/.$NAME.lock"
        flock 9
        ;;
    esac
    case "$cmd" in
    install) galera_install ;;
    start) cmd_galera_start ;;
    reset)
        resolve_bins
        GALERA_LIB=$(find_galera_lib) || die "libgalera_smm.so not found"
        with_global_lock
        ensure_template
        load_state || true
        galera_create || die "could not recreate the Galera cluster"
        release_global_lock
        ;;
    stop | kill | freeze | thaw | start-node | restart | partition | heal | desync | resync)
        [[ $# -ge 1 ]] || die "$cmd needs a NODE"
        node=$(canon_node "$1")
        resolve_bins
        GALERA_LIB=$(find_galera_lib) || die "libgalera_smm.so not found"
        need_state
        case "$cmd" in
        stop) stop_node "$node" ;;
        kill) kill_node "$node" ;;
        freeze) freeze_node "$node" ;;
        thaw) thaw_node "$node" ;;
        start-node) cmd_galera_start_node "$node" ;;
        restart)
            stop_node "$node"
            cmd_galera_start_node "$node"
            ;;
        partition) root_sql "$node" "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'" ;;
        heal)
            root_sql "$node" "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'"
            wait_synced_nodes 60 "$node"
            ;;
        desync) root_sql "$node" "SET GLOBAL wsrep_desync=ON" ;;
        resync) root_sql "$node" "SET GLOBAL wsrep_desync=OFF" ;;
        esac
        ;;
    wait-synced)
        resolve_bins
        need_state
        local up=() n
        for n in "${NODES[@]}"; do node_up "$n" && up+=("$n"); done
        wait_synced_nodes "${1:-60}" "${up[@]}"
        ;;
    sql)
        cmd_sql "$@"
        ;;
    urls) cmd_galera_urls ;;
    status)
        resolve_bins
        cmd_galera_status
        ;;
    destroy) destroy_cluster ;;
    *)
        usage >&2
        die "unknown command '$cmd'"
        ;;
    esac
}

galera_main "$@"
