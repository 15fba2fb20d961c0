#!/usr/bin/env bash
# Local MariaDB test cluster: one master and two GTID replicas on 127.0.0.1,
# run as plain processes (no systemd). Several named clusters can run at once.
#
# Usage: scripts/cluster.sh [--name NAME] COMMAND [ARGS]
#   NAME: --name, else $CLUSTER_NAME, else "main". Each cluster lives in
#   ${CLUSTER_ROOT:-/tmp/dcl}/NAME with its own ports (main: 3401-3403,
#   others: a base derived from the name in 3410..3990; busy ports are skipped
#   and the ports actually used are kept in NAME/state).
#
# Commands:
#   install               install MariaDB server + client dev libs (apt) if missing
#   start                 create or recover the cluster, make it healthy (idempotent)
#   stop NODE             graceful shutdown of one node
#   kill NODE             SIGKILL one node
#   start-node NODE       start one node again (a replica resumes replication)
#   restart NODE          stop + start-node
#   freeze NODE           SIGSTOP one node: the process hangs while its host still
#                         accepts TCP connections and acknowledges data
#   thaw NODE             SIGCONT a frozen node (start, stop and restart thaw too)
#   cap NODE PERCENT      limit the running node to PERCENT of one CPU (1..800, a
#                         cgroup CPU quota), as if it had a smaller machine of its own;
#                         a node started again runs uncapped
#   uncap NODE            remove the cap (destroy removes every cap too)
#   pin NODE CPUS         run every thread of the node on CPUS only (a taskset list,
#                         e.g. 1 or 0-1), so a benchmark's client can have a CPU of
#                         its own; a node started again runs anywhere
#   unpin NODE            let the node run on every CPU this script may use again
#   stop-sql NODE         STOP SLAVE SQL_THREAD on a replica
#   start-sql NODE        START SLAVE SQL_THREAD on a replica
#   delay NODE SECONDS    set MASTER_DELAY on a replica (0 removes it)
#   sync [TIMEOUT_S]      wait until every running replica applied the master's
#                         @@gtid_binlog_pos (default 30 s); non-zero on timeout
#   reset                 back to a fresh healthy topology (destroy + start, same ports)
#   urls                  print shell-sourceable ports and connection URLs
#   sql NODE "SQL"        run SQL as root on NODE (batch, -N -B); "-" reads stdin
#   status                per-node state, ports, replication state, GTID positions
#   destroy               kill this cluster's nodes and remove its directory
#   destroy-all           destroy every cluster under CLUSTER_ROOT (and the template)
# NODE: master|replica1|replica2 (or m|r1|r2).
#
# --galera (before the command): a 3-node Galera cluster instead (scripts/galera.sh;
# `scripts/cluster.sh --galera help` lists its commands); a cluster whose state says
# KIND=galera is driven that way without the flag.
set -euo pipefail

PROG=cluster.sh
CLUSTER_ROOT="${CLUSTER_ROOT:-/tmp/dcl}"
NAME="${CLUSTER_NAME:-main}"
NODES=(master replica1 replica2)
TEMPLATE="$CLUSTER_ROOT/.template"

MARIADBD=""
MARIADB=""
ADMIN=""
INSTALL_DB=""

die() {
    echo "${PROG}[$NAME]: error: $*" >&2
    exit 1
}
log() { echo "${PROG}[$NAME]: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

find_bin() {
    local b
    for b in "$@"; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
        if [[ -x /usr/sbin/$b ]]; then
            echo "/usr/sbin/$b"
            return 0
        fi
        if [[ -x /usr/bin/$b ]]; then
            echo "/usr/bin/$b"
            return 0
        fi
    done
    return 1
}

resolve_bins() {
    MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd not found (run: $0 install)"
    MARIADB=$(find_bin mariadb mysql) || die "mariadb client not found"
    ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found"
    INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
}

# ---------------------------------------------------------------- install

have_mariadb() {
    find_bin mariadbd >/dev/null &&
        find_bin mariadb-install-db >/dev/null &&
        find_bin mariadb >/dev/null &&
        find_bin mariadb-admin >/dev/null &&
        [[ -f /usr/include/mariadb/mysql.h ]] &&
        command -v pkg-config >/dev/null 2>&1 &&
        pkg-config --exists mysqlclient 2>/dev/null
}

# The Debian package may start a system server (port 3306, /run/mysqld); we
# never want it: stop it if it runs.
stop_system_mariadb() {
    local sock=/run/mysqld/mysqld.sock pidf=/run/mysqld/mysqld.pid pid admin
    [[ -e $sock || -e $pidf ]] || return 0
    admin=$(find_bin mariadb-admin mysqladmin) || return 0
    if "$admin" --no-defaults -uroot --socket="$sock" --connect-timeout=2 ping >/dev/null 2>&1; then
        log "stopping the system MariaDB server started by the package"
        "$admin" --no-defaults -uroot --socket="$sock" shutdown >/dev/null 2>&1 || true
    fi
    if [[ -r $pidf ]]; then
        pid=$(<"$pidf")
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_pid_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
}

cmd_install() {
    if have_mariadb; then
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "MariaDB or its dev libraries are missing and installing them needs root"
    local policy=/usr/sbin/policy-rc.d made_policy=0 t0=$SECONDS
    if [[ ! -e $policy ]]; then
        # Keep the package from starting a system server.
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    log "installing MariaDB server and client dev libraries with apt-get"
    local rc=0
    {
        if [[ ${DCL_APT_UPDATED:-0} != 1 ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get update
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y \
            mariadb-server libmariadb-dev-compat libmariadb-dev pkg-config
    } >&2 || rc=$?
    if [[ $made_policy -eq 1 ]]; then
        rm -f "$policy"
    fi
    [[ $rc -eq 0 ]] || die "apt-get failed (exit $rc)"
    stop_system_mariadb
    have_mariadb || die "MariaDB still missing after apt-get install"
    log "installed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- helpers

set_cluster() {
    [[ $NAME =~ ^[A-Za-z0-9_.-]{1,40}$ && $NAME != .* ]] ||
        die "bad cluster name '$NAME' (letters, digits, _ . -; at most 40)"
    CDIR="$CLUSTER_ROOT/$NAME"
    local s="$CDIR/replica2/mysqld.sock"
    ((${#s} < 100)) || die "socket path too long (${#s} bytes): $s; use a shorter CLUSTER_ROOT"
}

canon_node() {
    case "$1" in
    master | m | node1 | 1) echo master ;;
    replica1 | r1 | node2 | 2) echo replica1 ;;
    replica2 | r2 | node3 | 3) echo replica2 ;;
    *) die "unknown node '$1' (master|replica1|replica2, or m|r1|r2)" ;;
    esac
}

server_id() {
    case "$1" in
    master) echo 1 ;;
    replica1) echo 2 ;;
    replica2) echo 3 ;;
    esac
}

node_index() {
    case "$1" in
    master) echo 0 ;;
    replica1) echo 1 ;;
    replica2) echo 2 ;;
    esac
}

var_name() {
    case "$1" in
    master) echo MASTER_PORT ;;
    replica1) echo REPLICA1_PORT ;;
    replica2) echo REPLICA2_PORT ;;
    esac
}

require_replica() {
    [[ $1 != master ]] || die "'$1' is not a replica"
}

sock() { echo "$CDIR/$1/mysqld.sock"; }
cnf() { echo "$CDIR/$1/my.cnf"; }

# root_sql NODE SQL...: run SQL as root over the node's unix socket.
root_sql() {
    local node=$1
    shift
    "$MARIADB" --no-defaults -uroot --socket="$(sock "$node")" --connect-timeout=5 -N -B -e "$*"
}

node_up() {
    [[ -S $(sock "$1") ]] || return 1
    "$ADMIN" --no-defaults -uroot --socket="$(sock "$1")" --connect-timeout=2 ping >/dev/null 2>&1
}

# pid_is_ours PID CNF: PID is a live mariadbd started with --defaults-file=CNF.
pid_is_ours() {
    local pid=$1 want="--defaults-file=$2" a
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    local -a args=()
    mapfile -d '' args <"/proc/$pid/cmdline" 2>/dev/null || return 1
    for a in "${args[@]}"; do
        [[ $a == "$want" ]] && return 0
    done
    return 1
}

# pids_with_cnf_prefix PREFIX: live mariadbd processes whose defaults file is under PREFIX.
pids_with_cnf_prefix() {
    local prefix="--defaults-file=$1" d pid a
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        local -a args=()
        mapfile -d '' args <"$d/cmdline" 2>/dev/null || continue
        for a in "${args[@]}"; do
            if [[ $a == "$prefix"* ]]; then
                echo "$pid"
                break
            fi
        done
    done
}

node_pid() {
    local c pidf pid
    c=$(cnf "$1")
    pidf="$CDIR/$1/mysqld.pid"
    if [[ -r $pidf ]]; then
        pid=$(<"$pidf")
        if pid_is_ours "$pid" "$c"; then
            echo "$pid"
            return 0
        fi
    fi
    pid=$(pids_with_cnf_prefix "$c" | head -n1)
    [[ -n $pid ]] || return 1
    echo "$pid"
}

wait_pid_gone() {
    local pid=$1 timeout=${2:-60} i
    for ((i = 0; i < timeout * 10; i++)); do
        # A zombie has an empty cmdline: count it as gone.
        if [[ ! -e /proc/$pid ]] || [[ -z $(tr -d '\0' <"/proc/$pid/cmdline" 2>/dev/null) ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- state / ports

declare -A PORT=()
READY=0

load_state() {
    PORT=()
    READY=0
    local f="$CDIR/state" k v
    [[ -r $f ]] || return 1
    while IFS='=' read -r k v; do
        case "$k" in
        MASTER_PORT) PORT[master]=$v ;;
        REPLICA1_PORT) PORT[replica1]=$v ;;
        REPLICA2_PORT) PORT[replica2]=$v ;;
        READY) READY=$v ;;
        esac
    done <"$f"
    return 0
}

save_state() {
    local tmp="$CDIR/state.tmp"
    {
        echo "MASTER_PORT=${PORT[master]:-}"
        echo "REPLICA1_PORT=${PORT[replica1]:-}"
        echo "REPLICA2_PORT=${PORT[replica2]:-}"
        echo "READY=$READY"
    } >"$tmp"
    mv -f "$tmp" "$CDIR/state"
}

default_base() {
    if [[ $NAME == main ]]; then
        echo 3401
    else
        local h
        h=$(printf '%s' "$NAME" | cksum | cut -d' ' -f1)
        echo $((3410 + (h % 194) * 3))
    fi
}

# Ports recorded by the other clusters under CLUSTER_ROOT.
RESERVED=" "
load_reserved() {
    RESERVED=" "
    local f k v
    for f in "$CLUSTER_ROOT"/*/state; do
        [[ -r $f && $f != "$CDIR/state" ]] || continue
        while IFS='=' read -r k v; do
            [[ $k == *_PORT && -n $v ]] && RESERVED+="$v "
        done <"$f"
    done
}

port_listening() {
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_ok NODE PORT: usable for NODE (not another node's, not reserved, not busy).
port_ok() {
    local node=$1 p=$2 n
    ((p > 1024 && p < 65535)) || return 1
    for n in "${NODES[@]}"; do
        [[ $n != "$node" && ${PORT[$n]:-} == "$p" ]] && return 1
    done
    [[ $RESERVED != *" $p "* ]] || return 1
    ! port_listening "$p"
}

# choose_port NODE [FROM]: keep the recorded port if free, else scan upward.
choose_port() {
    local node=$1 from=${2:-} p
    if [[ -z $from && -n ${PORT[$node]:-} ]] && port_ok "$node" "${PORT[$node]}"; then
        return 0
    fi
    if [[ -z $from ]]; then
        from=$(($(default_base) + $(node_index "$node")))
    fi
    p=$from
    until port_ok "$node" "$p"; do
        p=$((p + 1))
        ((p < 65000)) || die "no free port found for $node"
    done
    if [[ -n ${PORT[$node]:-} && ${PORT[$node]} != "$p" ]]; then
        log "$node: port ${PORT[$node]} is busy, using $p"
    fi
    PORT[$node]=$p
}

# ---------------------------------------------------------------- nodes

# cnf_base NODE SERVER_ID: the [mariadbd] settings every local node has, replication or
# Galera (paths, port, binlog, and the small sizes and fast durability settings of a
# test cluster). scripts/galera.sh adds its own to them too.
cnf_base() {
    local node=$1 d="$CDIR/$1"
    echo "[mariadbd]"
    if [[ $EUID -eq 0 ]]; then echo "user=root"; fi
    cat <<EOF
datadir=$d/data
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
port=${PORT[$node]}
bind-address=127.0.0.1
server-id=$2
log-bin=binlog
binlog-format=ROW
log-slave-updates=1
innodb-buffer-pool-size=32M
innodb-log-file-size=16M
innodb-flush-log-at-trx-commit=2
sync-binlog=0
skip-name-resolve
max-connections=500
performance-schema=OFF
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
max-allowed-packet=64M
EOF
}

write_cnf() {
    local node=$1
    {
        cnf_base "$node" "$(server_id "$node")"
        cat <<EOF
relay-log=relay-bin
gtid-strict-mode=1
slave-net-timeout=10
EOF
        [[ $node != master ]] && echo "read-only=1"
    } >"$CDIR/$node/my.cnf"
}

ensure_template() {
    local ver marker="$TEMPLATE/.dcl-template"
    ver=$("$MARIADBD" --version 2>/dev/null | head -n1)
    if [[ -f $marker && $(<"$marker") == "$ver" ]]; then
        return 0
    fi
    log "initialising template datadir"
    local tmp="$CLUSTER_ROOT/.template.tmp.$$" userarg=() out
    rm -rf "$tmp"
    mkdir -p "$tmp"
    [[ $EUID -eq 0 ]] && userarg=(--user=root)
    if ! out=$("$INSTALL_DB" --no-defaults --datadir="$tmp" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve "${userarg[@]}" \
        --innodb-log-file-size=16M --innodb-buffer-pool-size=32M 2>&1); then
        echo "$out" >&2
        rm -rf "$tmp"
        die "mariadb-install-db failed"
    fi
    echo "$ver" >"$tmp/.dcl-template"
    rm -rf "$TEMPLATE"
    mv "$tmp" "$TEMPLATE"
}

declare -A LAUNCHED=()
declare -A LOGPOS=()

launch() {
    local node=$1 d="$CDIR/$1"
    write_cnf "$node"
    rm -f "$d/mysqld.sock"
    LOGPOS[$node]=$(stat -c %s "$d/error.log" 2>/dev/null || echo 0)
    (
        # The server must keep none of our fds open (our locks, a caller's pipes).
        local fd
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec setsid "$MARIADBD" --defaults-file="$d/my.cnf" </dev/null >>"$d/mariadbd.out" 2>&1
    ) &
    LAUNCHED[$node]=$!
}

# wait_up NODE [TIMEOUT]: 0 up, 1 failed, 2 failed because its port was taken.
wait_up() {
    local node=$1 timeout=${2:-90} pid=${LAUNCHED[$1]:-} i
    for ((i = 0; i < timeout * 10; i++)); do
        if node_up "$node"; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        log "$node: no answer after ${timeout}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    local errlog="$CDIR/$node/error.log" newlog
    newlog=$(tail -c +"$((${LOGPOS[$node]:-0} + 1))" "$errlog" 2>/dev/null || true)
    if grep -q -e 'Address already in use' -e 'Bind on TCP/IP port' <<<"$newlog"; then
        return 2
    fi
    log "$node failed to start; end of $errlog:"
    tail -n 15 <<<"$newlog" >&2 || true
    return 1
}

# start_nodes NODE...: start the nodes that are down (in parallel), picking
# other ports if theirs are busy. Fails if one does not come up.
start_nodes() {
    local n attempt rc todo=() retry
    for n in "$@"; do
        thaw_node "$n"
        node_up "$n" || todo+=("$n")
    done
    ((${#todo[@]})) || return 0
    load_reserved
    for n in "${todo[@]}"; do
        local pid
        if pid=$(node_pid "$n"); then
            # Alive but not answering on its socket: get rid of it.
            log "$n: process $pid does not answer, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_pid_gone "$pid" 10 || true
        fi
        choose_port "$n"
    done
    save_state
    for ((attempt = 1; attempt <= 4; attempt++)); do
        for n in "${todo[@]}"; do
            launch "$n"
        done
        retry=()
        for n in "${todo[@]}"; do
            rc=0
            wait_up "$n" || rc=$?
            if ((rc == 2)); then
                log "$n: port ${PORT[$n]} taken while starting, picking another"
                choose_port "$n" $((PORT[$n] + 1))
                retry+=("$n")
            elif ((rc != 0)); then
                save_state
                return 1
            fi
        done
        save_state
        ((${#retry[@]})) || return 0
        todo=("${retry[@]}")
    done
    return 1
}

# Vertical output with column names ("  Name: value" lines).
slave_status() {
    "$MARIADB" --no-defaults -uroot --socket="$(sock "$1")" --connect-timeout=5 -B -E -e "SHOW SLAVE STATUS"
}

# field NAME <<<"$status"
field() {
    awk -v k="$1" '{
        line = $0
        sub(/^ +/, "", line)
        if (index(line, k ": ") == 1) { print substr(line, length(k) + 3); exit }
        if (line == k ":") { print ""; exit }
    }'
}

change_master_sql() {
    echo "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${PORT[master]}, MASTER_USER='repl', MASTER_PASSWORD='repl_pw', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_DELAY=0"
}

# ensure_replication REPLICA [normalize]: points at the master's current port
# and threads running; with normalize, also removes any MASTER_DELAY.
ensure_replication() {
    local r=$1 normalize=${2:-} st port delay io sqlt gtid
    st=$(slave_status "$r")
    port=$(field Master_Port <<<"$st")
    delay=$(field SQL_Delay <<<"$st")
    io=$(field Slave_IO_Running <<<"$st")
    sqlt=$(field Slave_SQL_Running <<<"$st")
    gtid=$(field Using_Gtid <<<"$st")
    if [[ -z $st ]]; then
        root_sql "$r" "$(change_master_sql); START SLAVE;"
    elif [[ $port != "${PORT[master]}" || $gtid != Slave_Pos || (-n $normalize && $delay != 0) ]]; then
        root_sql "$r" "STOP SLAVE; $(change_master_sql); START SLAVE;"
    elif [[ $io == No || $sqlt == No ]]; then
        root_sql "$r" "START SLAVE;"
    fi
}

# sync_replicas TIMEOUT [all]: wait for running replicas (with "all": every
# replica) to apply the master's @@gtid_binlog_pos.
sync_replicas() {
    local timeout=${1:-30} all=${2:-} pos r res left deadline fail=0
    [[ $timeout =~ ^[0-9]+$ ]] || die "bad timeout '$timeout'"
    node_up master || {
        log "sync: master is down"
        return 1
    }
    pos=$(root_sql master "SELECT @@gtid_binlog_pos")
    deadline=$((SECONDS + timeout))
    for r in replica1 replica2; do
        if ! node_up "$r"; then
            if [[ -n $all ]]; then
                log "sync: $r is down"
                fail=1
            fi
            continue
        fi
        left=$((deadline - SECONDS))
        ((left > 0)) || left=0
        res=$(root_sql "$r" "SELECT MASTER_GTID_WAIT('$pos', $left)") || res=err
        if [[ $res != 0 ]]; then
            local st
            st=$(slave_status "$r" 2>/dev/null || true)
            log "sync: $r did not reach '$pos' within ${timeout}s (gtid_slave_pos=$(root_sql "$r" 'SELECT @@gtid_slave_pos' 2>/dev/null || true), IO=$(field Slave_IO_Running <<<"$st"), SQL=$(field Slave_SQL_Running <<<"$st"), last error: $(field Last_Error <<<"$st")$(field Last_IO_Error <<<"$st"))"
            fail=1
        elif [[ -n $all ]] && ! wait_replicating "$r" "$deadline"; then
            fail=1
        fi
    done
    return "$fail"
}

# wait_replicating REPLICA DEADLINE: until $SECONDS reaches DEADLINE, wait for
# both replication threads to run and the IO thread to be connected. A replica
# that applied everything can still be reconnecting (IO "Connecting"); clients
# that probe it then see unknown lag, so a ready cluster waits for this too.
wait_replicating() {
    local r=$1 deadline=$2 st io sqlt
    while :; do
        st=$(slave_status "$r" 2>/dev/null || true)
        io=$(field Slave_IO_Running <<<"$st")
        sqlt=$(field Slave_SQL_Running <<<"$st")
        [[ $io == Yes && $sqlt == Yes ]] && return 0
        if ((SECONDS >= deadline)); then
            log "sync: $r replication threads not running (IO=$io, SQL=$sqlt)"
            return 1
        fi
        sleep 0.05
    done
}

kill_node() {
    local pid
    pid=$(node_pid "$1") || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 30 || die "$1 (pid $pid) survived SIGKILL"
}

# thaw_node NODE: resume a node frozen by `freeze` (a no-op on a running one).
thaw_node() {
    local pid
    pid=$(node_pid "$1") || return 0
    kill -CONT "$pid" 2>/dev/null || true
}

freeze_node() {
    local pid
    pid=$(node_pid "$1") || die "$1 is not running"
    kill -STOP "$pid"
}

# ---------------------------------------------------------------- CPU caps

# cpu_cgroup NODE: the node's own CPU cgroup directory, on cgroup v2's unified
# hierarchy or v1's cpu controller, whichever this machine mounts; nothing without one.
cpu_cgroup() {
    local leaf="dcl-$NAME-$1"
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        echo "/sys/fs/cgroup/$leaf"
    elif [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
        echo "/sys/fs/cgroup/cpu/$leaf"
    fi
}

cap_node() {
    local node=$1 pct=$2 pid dir
    [[ $pct =~ ^[0-9]+$ ]] && ((pct >= 1 && pct <= 800)) || die "cap needs PERCENT (1..800)"
    pid=$(node_pid "$node") || die "$node is not running"
    dir=$(cpu_cgroup "$node")
    [[ -n $dir ]] || die "no cgroup CPU controller under /sys/fs/cgroup: can't cap a node"
    if [[ $dir == /sys/fs/cgroup/cpu/* ]]; then
        mkdir -p "$dir" || die "can't create $dir (needs root)"
        echo 100000 >"$dir/cpu.cfs_period_us"
        echo $((pct * 1000)) >"$dir/cpu.cfs_quota_us"
    else
        grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control ||
            echo +cpu >/sys/fs/cgroup/cgroup.subtree_control ||
            die "can't enable the cpu controller for child cgroups"
        mkdir -p "$dir" || die "can't create $dir (needs root)"
        echo "$((pct * 1000)) 100000" >"$dir/cpu.max"
    fi
    # Moves every thread of the process; threads it starts later inherit the group.
    echo "$pid" >"$dir/cgroup.procs" || die "can't move $node (pid $pid) into $dir"
    log "$node capped at $pct% of a CPU"
}

uncap_node() {
    local node=$1 dir pid
    dir=$(cpu_cgroup "$node")
    [[ -n $dir && -d $dir ]] || return 0
    while read -r pid; do
        echo "$pid" >"$(dirname "$dir")/cgroup.procs" 2>/dev/null || true
    done <"$dir/cgroup.procs"
    rmdir "$dir" 2>/dev/null || log "can't remove $dir"
}

# pin_node NODE CPUS: every thread of the node on CPUS (taskset's list syntax).
pin_node() {
    local node=$1 cpus=$2 pid
    [[ $cpus =~ ^[0-9]+([-,][0-9]+)*$ ]] || die "pin needs CPUS (a list such as 1 or 0-1)"
    pid=$(node_pid "$node") || die "$node is not running"
    command -v taskset >/dev/null || die "pin needs taskset (util-linux)"
    taskset -a -p -c "$cpus" "$pid" >/dev/null || die "can't pin $node (pid $pid) to CPUs $cpus"
    log "$node pinned to CPUs $cpus"
}

# unpin_node NODE: back on every CPU this script may run on.
unpin_node() {
    local node=$1 pid cpus
    pid=$(node_pid "$node") || return 0
    command -v taskset >/dev/null || return 0
    cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)
    [[ -n $cpus ]] || return 0
    taskset -a -p -c "$cpus" "$pid" >/dev/null 2>&1 || log "can't unpin $node (pid $pid)"
}

# unconstrain_all: no node of this cluster capped or pinned (a cap or pin left by a
# killed benchmark would otherwise slow every test after it).
unconstrain_all() {
    local n
    for n in "${NODES[@]}"; do
        uncap_node "$n"
        unpin_node "$n"
    done
    return 0
}

stop_node() {
    local node=$1 pid
    pid=$(node_pid "$node") || {
        log "$node is not running"
        return 0
    }
    # A frozen node could not shut down.
    thaw_node "$node"
    "$ADMIN" --no-defaults -uroot --socket="$(sock "$node")" --connect-timeout=5 shutdown >/dev/null 2>&1 ||
        kill -TERM "$pid" 2>/dev/null || true
    if ! wait_pid_gone "$pid" 60; then
        log "$node did not stop in 60 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || true
    fi
}

# ---------------------------------------------------------------- create / recover

provision_sql() {
    cat <<'EOF'
CREATE DATABASE IF NOT EXISTS app;
CREATE DATABASE IF NOT EXISTS other_db;
CREATE TABLE other_db.marker (id INT PRIMARY KEY, name VARCHAR(64));
INSERT INTO other_db.marker VALUES (1, 'other_db');
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl_pw';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
CREATE USER 'app'@'%' IDENTIFIED BY 'app_pw';
GRANT ALL ON app.* TO 'app'@'%';
GRANT ALL ON other_db.* TO 'app'@'%';
GRANT SLAVE MONITOR, BINLOG MONITOR, PROCESS ON *.* TO 'app'@'%';
CREATE USER 'app_ro'@'%' IDENTIFIED BY 'ro_pw';
GRANT SELECT, CREATE TEMPORARY TABLES, LOCK TABLES ON app.* TO 'app_ro'@'%';
GRANT SELECT, CREATE TEMPORARY TABLES, LOCK TABLES ON other_db.* TO 'app_ro'@'%';
GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'app_ro'@'%';
CREATE USER 'app_nomon'@'%' IDENTIFIED BY 'nomon_pw';
GRANT SELECT ON app.* TO 'app_nomon'@'%';
CREATE USER 'admin'@'%' IDENTIFIED BY 'admin_pw';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;
EOF
}

destroy_cluster() {
    local n pid
    if [[ -d $CDIR ]]; then
        for n in "${NODES[@]}"; do
            kill_node "$n"
        done
    fi
    unconstrain_all
    # Strays (e.g. pid file gone): anything started from this cluster's dir.
    for pid in $(pids_with_cnf_prefix "$CDIR/"); do
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || true
    done
    rm -rf "$CDIR"
}

# create_cluster: from scratch; keeps the ports already in PORT when free.
create_cluster() {
    local n r t0=$SECONDS
    log "creating cluster in $CDIR"
    local -A keep=()
    for n in "${NODES[@]}"; do
        keep[$n]=${PORT[$n]:-}
    done
    destroy_cluster
    mkdir -p "$CDIR"
    PORT=()
    for n in "${NODES[@]}"; do
        [[ -n ${keep[$n]} ]] && PORT[$n]=${keep[$n]}
    done
    READY=0
    for n in "${NODES[@]}"; do
        mkdir -p "$CDIR/$n/data" || return 1
        cp -a "$TEMPLATE/." "$CDIR/$n/data/" || return 1
        rm -f "$CDIR/$n/data/.dcl-template"
    done
    start_nodes "${NODES[@]}" || return 1
    root_sql master "$(provision_sql)" || return 1
    for r in replica1 replica2; do
        ensure_replication "$r" normalize || return 1
    done
    sync_replicas 60 all || return 1
    for r in replica1 replica2; do
        [[ $(root_sql "$r" "SELECT COUNT(*) FROM mysql.user WHERE user IN ('app','app_ro','app_nomon','admin','repl')") == 5 ]] ||
            {
                log "$r: accounts did not replicate"
                return 1
            }
    done
    READY=1
    save_state
    log "cluster created in $((SECONDS - t0)) s (ports ${PORT[master]} ${PORT[replica1]} ${PORT[replica2]})"
}

# recover_cluster: bring an existing cluster back to a healthy state; fails
# when that is not possible (then the caller rebuilds it).
recover_cluster() {
    local n r ro st mpos rpos
    start_nodes "${NODES[@]}" || return 1
    for n in "${NODES[@]}"; do
        [[ $(root_sql "$n" "SELECT @@port") == "${PORT[$n]}" ]] || {
            log "$n does not listen on ${PORT[$n]}"
            return 1
        }
    done
    # Topology: writable master that replicates from nobody, read-only replicas.
    ro=$(root_sql master "SELECT @@read_only") || return 1
    st=$(slave_status master) || return 1
    if [[ $ro != 0 || -n $st ]]; then
        log "master is read-only or configured as a replica: topology changed"
        return 1
    fi
    for r in replica1 replica2; do
        [[ $(root_sql "$r" "SELECT @@read_only") == 1 ]] || {
            log "$r is writable: topology changed"
            return 1
        }
        ensure_replication "$r" normalize || return 1
    done
    sync_replicas 30 all || return 1
    mpos=$(root_sql master "SELECT @@gtid_binlog_pos")
    for r in replica1 replica2; do
        rpos=$(root_sql "$r" "SELECT @@gtid_binlog_pos")
        [[ $rpos == "$mpos" ]] || {
            log "$r has GTIDs the master lacks ($rpos vs $mpos)"
            return 1
        }
    done
}

with_global_lock() {
    mkdir -p "$CLUSTER_ROOT"
    exec 8>"$CLUSTER_ROOT/.global.lock"
    flock 8
}

release_global_lock() {
    flock -u 8
    exec 8>&-
}

cmd_start() {
    cmd_install
    resolve_bins
    with_global_lock
    ensure_template
    local t0=$SECONDS
    unconstrain_all
    if load_state && [[ $READY == 1 ]]; then
        if ! recover_cluster; then
            log "cluster unusable, rebuilding it from scratch"
            create_cluster || die "could not create the cluster"
        fi
    else
        create_cluster || die "could not create the cluster"
    fi
    release_global_lock
    log "ready in $((SECONDS - t0)) s: ports ${PORT[master]} ${PORT[replica1]} ${PORT[replica2]}"
}

cmd_reset() {
    resolve_bins
    with_global_lock
    ensure_template
    load_state || true
    create_cluster || die "could not recreate the cluster"
    release_global_lock
}

cmd_start_node() {
    local node=$1 oldport
    need_state
    oldport=${PORT[master]}
    with_global_lock
    start_nodes "$node" || die "$node did not start"
    release_global_lock
    local r
    if [[ $node == master ]]; then
        if [[ ${PORT[master]} != "$oldport" ]]; then
            for r in replica1 replica2; do
                if node_up "$r"; then ensure_replication "$r"; fi
            done
        fi
        for r in replica1 replica2; do
            if node_up "$r"; then wait_io_connected "$r"; fi
        done
    else
        ensure_replication "$node"
        if node_up master; then wait_io_connected "$node"; fi
    fi
}

# wait_io_connected REPLICA: give a running IO thread up to 10 s to
# (re)connect to the master; only a warning if it does not.
wait_io_connected() {
    local i io
    for ((i = 0; i < 100; i++)); do
        io=$(slave_status "$1" | field Slave_IO_Running)
        [[ $io == Connecting || $io == Preparing ]] || return 0
        sleep 0.1
    done
    log "warning: $1 IO thread still '$io' after 10 s"
}

need_state() {
    load_state || die "cluster '$NAME' does not exist (run: $0 --name $NAME start)"
}

# cmd_sql NODE [SQL|-]: SQL as root on NODE (stdin with `-` or no SQL).
cmd_sql() {
    [[ $# -ge 1 ]] || die "sql needs a NODE"
    local node
    node=$(canon_node "$1")
    resolve_bins
    need_state
    if [[ $# -lt 2 || $2 == - ]]; then
        "$MARIADB" --no-defaults -uroot --socket="$(sock "$node")" --connect-timeout=5 -N -B
    else
        root_sql "$node" "$2"
    fi
}

cmd_urls() {
    need_state
    local m=${PORT[master]} r1=${PORT[replica1]} r2=${PORT[replica2]}
    cat <<EOF
MASTER_PORT=$m
REPLICA1_PORT=$r1
REPLICA2_PORT=$r2
MASTER_URL=mysql://app:app_pw@127.0.0.1:$m/app
REPLICA1_URL=mysql://app_ro:ro_pw@127.0.0.1:$r1/app
REPLICA2_URL=mysql://app_ro:ro_pw@127.0.0.1:$r2/app
CLUSTER_URL=mysql://app:app_pw@127.0.0.1:$m,127.0.0.1:$r1,127.0.0.1:$r2/app
ADMIN_URL=mysql://admin:admin_pw@127.0.0.1:$m/app
CLUSTER_DIR=$CDIR
EOF
}

cmd_status() {
    need_state
    local n st ro
    printf '%-9s %-5s %-6s %-3s %-10s %-4s %-6s %-5s %-16s %-16s %s\n' \
        NODE STATE PORT RO IO SQL BEHIND DELAY GTID_BINLOG_POS GTID_SLAVE_POS LAST_ERROR
    for n in "${NODES[@]}"; do
        if ! node_up "$n"; then
            printf '%-9s %-5s %-6s\n' "$n" down "${PORT[$n]}"
            continue
        fi
        local vals
        vals=$(root_sql "$n" "SELECT @@read_only, IFNULL(NULLIF(@@gtid_binlog_pos,''),'-'), IFNULL(NULLIF(@@gtid_slave_pos,''),'-')")
        local bpos spos
        read -r ro bpos spos <<<"$vals"
        st=$(slave_status "$n")
        local io='-' sq='-' sbm='-' dl='-' err=''
        if [[ -n $st ]]; then
            io=$(field Slave_IO_Running <<<"$st")
            sq=$(field Slave_SQL_Running <<<"$st")
            sbm=$(field Seconds_Behind_Master <<<"$st")
            dl=$(field SQL_Delay <<<"$st")
            err="$(field Last_IO_Error <<<"$st")$(field Last_SQL_Error <<<"$st")"
        fi
        printf '%-9s %-5s %-6s %-3s %-10s %-4s %-6s %-5s %-16s %-16s %s\n' \
            "$n" up "${PORT[$n]}" "$ro" "$io" "$sq" "$sbm" "$dl" "$bpos" "$spos" "$err"
    done
}

cmd_destroy_all() {
    local d n pid
    if [[ -d $CLUSTER_ROOT ]]; then
        for d in "$CLUSTER_ROOT"/*/; do
            [[ -d $d ]] || continue
            n=$(basename "$d")
            NAME=$n
            set_cluster
            destroy_cluster
        done
    fi
    for pid in $(pids_with_cnf_prefix "$CLUSTER_ROOT/"); do
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || true
    done
    rm -rf "$CLUSTER_ROOT"
}

# ---------------------------------------------------------------- main

main() {
    local galera=0 args=("$@")
    while (($#)); do
        case "$1" in
        --galera)
            galera=1
            shift
            ;;
        --name)
            [[ $# -ge 2 ]] || die "--name needs a value"
            NAME=$2
            shift 2
            ;;
        --name=*)
            NAME=${1#--name=}
            shift
            ;;
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
    local cmd=$1
    shift
    set_cluster
    if [[ $cmd != destroy-all ]] && { ((galera)) || grep -qs '^KIND=galera$' "$CDIR/state"; }; then
        exec bash "$(dirname "${BASH_SOURCE[0]}")/galera.sh" "${args[@]}"
    fi
    case "$cmd" in
    install | urls | status | sql | destroy-all | sync) ;;
    *)
        # One mutating command at a time per cluster.
        mkdir -p "$CLUSTER_ROOT"
        exec 9>"$CLUSTER_ROOT/.$NAME.lock"
        flock 9
        ;;
    esac
    local node
    case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    reset) cmd_reset ;;
    stop | kill | freeze | thaw | start-node | restart | stop-sql | start-sql | delay | cap | uncap | pin | unpin)
        [[ $# -ge 1 ]] || die "$cmd needs a NODE"
        node=$(canon_node "$1")
        resolve_bins
        need_state
        case "$cmd" in
        stop) stop_node "$node" ;;
        kill) kill_node "$node" ;;
        freeze) freeze_node "$node" ;;
        thaw) thaw_node "$node" ;;
        cap) cap_node "$node" "${2:-}" ;;
        uncap) uncap_node "$node" ;;
        pin) pin_node "$node" "${2:-}" ;;
        unpin) unpin_node "$node" ;;
        start-node) cmd_start_node "$node" ;;
        restart)
            stop_node "$node"
            cmd_start_node "$node"
            ;;
        stop-sql)
            require_replica "$node"
            root_sql "$node" "STOP SLAVE SQL_THREAD"
            ;;
        start-sql)
            require_replica "$node"
            root_sql "$node" "START SLAVE SQL_THREAD"
            ;;
        delay)
            require_replica "$node"
            [[ ${2:-} =~ ^[0-9]+$ ]] || die "delay needs SECONDS (integer)"
            root_sql "$node" "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=$2; START SLAVE;"
            ;;
        esac
        ;;
    sync)
        resolve_bins
        need_state
        sync_replicas "${1:-30}"
        ;;
    sql)
        cmd_sql "$@"
        ;;
    urls) cmd_urls ;;
    status)
        resolve_bins
        cmd_status
        ;;
    destroy)
        destroy_cluster
        ;;
    destroy-all) cmd_destroy_all ;;
    *)
        usage >&2
        die "unknown command '$cmd'"
        ;;
    esac
}

# scripts/galera.sh sources this file for its helpers.
if [[ -z ${DCL_SOURCE_ONLY:-} ]]; then
    main "$@"
fi
