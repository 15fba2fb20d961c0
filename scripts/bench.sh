#!/usr/bin/env bash
# Run the criterion benches against the local MariaDB cluster and print a markdown
# table of medians and ratios (ours / raw), also written to <target dir>/bench-table.md.
#
# Usage: scripts/bench.sh [cargo bench arguments...]
#   e.g. scripts/bench.sh --bench overhead
# Environment: CARGO_TARGET_DIR (where criterion writes), BENCH_CLUSTER (cluster name for
# scripts/cluster.sh, default main), BENCH_PAIRS (pairs per round of the paired point
# selects, default 250), BENCH_CALLGRIND=0 (skip counting instructions with valgrind).
#
# Set-up as in scripts/test.sh (build tools, MariaDB, cluster start). The benches create
# and use one scratch table, bench_rows; they never stop or restart nodes. About 4
# minutes on 2 cores once built.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

T_ALL=$SECONDS
COMMAND="scripts/bench.sh${*:+ $*}"
setup_machine
if [[ -n ${BENCH_CLUSTER:-} && $BENCH_CLUSTER != main ]]; then
    bash "$CLUSTER_SH" --name "$BENCH_CLUSTER" start
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
mkdir -p "$TARGET_DIR"
LOG="$TARGET_DIR/bench.log"
TABLE="$TARGET_DIR/bench-table.md"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

phase_start "cargo bench (build)"
cargo bench --features async --no-run "$@"
phase_end

# Keep every CPU busy while measuring with one SCHED_IDLE spinner each: they run only
# when nothing else wants the CPU, so they take no time from the benches or the servers,
# but the virtual CPUs never go idle. On this kind of VM a wake-up of an idle vCPU costs
# tens of µs, and whether a statement's client and server thread meet one depends on
# where the scheduler put the server thread: that made two identical raw connections
# differ by up to 1.7x per run; with the spinners they agree within 1%. Times come out
# higher (every wake-up preempts a spinner, and SMT siblings share a core), ratios
# steady. BENCH_SPIN=0 measures without them.
SPINNERS=()
stop_spinners() {
    local p
    for p in "${SPINNERS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    SPINNERS=()
}
trap stop_spinners EXIT
SPIN_NOTE="no spinners (BENCH_SPIN=0)"
if [[ ${BENCH_SPIN:-1} != 0 ]] && command -v chrt >/dev/null 2>&1; then
    for _ in $(seq 1 "$(nproc)"); do
        # Ends by itself if this script dies without running its EXIT trap.
        chrt --idle 0 bash -c 'while kill -0 "$1" 2>/dev/null; do :; done' spinner $$ &
        SPINNERS+=($!)
    done
    SPIN_NOTE="measured with one SCHED_IDLE busy loop per CPU so that no vCPU idles (scripts/bench.sh says why; ratios are steady, absolute times higher than on an idle machine)"
fi

# Only results written by this run go in the table (criterion keeps older ones).
STAMP="$TARGET_DIR/.bench-start"
touch "$STAMP"
phase_start "cargo bench (run)"
rc=0
cargo bench --features async "$@" 2>&1 | tee "$LOG" || rc=$?
phase_end
stop_spinners
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Client-side instructions per statement, raw vs ours: deterministic, unlike times on a
# shared machine. benches/overhead.rs runs fixed loops when BENCH_INSTRUCTIONS is set.
CALLGRIND_TXT="$TARGET_DIR/callgrind.overhead.txt"
rm -f "$CALLGRIND_TXT"
if [[ ${BENCH_CALLGRIND:-1} != 0 ]] && ! command -v valgrind >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >&2 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update >&2 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >&2; } \
        || echo "valgrind could not be installed: no instruction counts" >&2
fi
if [[ ${BENCH_CALLGRIND:-1} != 0 ]] && command -v valgrind >/dev/null 2>&1 \
    && command -v callgrind_annotate >/dev/null 2>&1; then
    phase_start "callgrind (instructions per statement)"
    BIN=$(cargo bench --bench overhead --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
    if [[ -n $BIN ]] && BENCH_INSTRUCTIONS=1 valgrind --tool=callgrind \
        --callgrind-out-file="$TARGET_DIR/callgrind.overhead.out" "$BIN" \
        >"$TARGET_DIR/callgrind.log" 2>&1; then
        callgrind_annotate --inclusive=yes --threshold=100 \
            "$TARGET_DIR/callgrind.overhead.out" >"$CALLGRIND_TXT" 2>/dev/null || true
    else
        echo "callgrind run failed; see $TARGET_DIR/callgrind.log" >&2
    fi
    phase_end
fi

python3 - "$TARGET_DIR/criterion" "$STAMP" "$LOG" "$COMMAND" "$LOAD_BEFORE" "$LOAD_AFTER" \
    "$CALLGRIND_TXT" "$TARGET_DIR/callgrind.log" "$SPIN_NOTE" >"$TABLE" <<'PY'
import json, os, re, sys, datetime, platform

crit_dir, stamp, log, command, load_before, load_after, cg_txt, cg_log, spin = sys.argv[1:10]
since = os.path.getmtime(stamp)

def fmt(ns):
    if ns is None:
        return "-"
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.1f} ns"

# criterion results: (group, function, value) -> median ns
results, order = {}, []
for root, _dirs, files in os.walk(crit_dir):
    if not root.endswith(os.sep + "new") or "estimates.json" not in files:
        continue
    est = os.path.join(root, "estimates.json")
    if os.path.getmtime(est) < since:
        continue
    with open(os.path.join(root, "benchmark.json")) as f:
        b = json.load(f)
    with open(est) as f:
        median = json.load(f)["median"]["point_estimate"]
    key = (b["group_id"], b.get("function_id") or "", b.get("value_str") or "")
    results[key] = median

# Checks against the issue's targets: (group, value) -> (what, check(raw, ours, ratio)).
def ratio_at_most(limit):
    return (f"ours/raw <= {limit}", lambda r, o, q: q is not None and q <= limit)

def ours_at_most(ns):
    return (f"<= {fmt(ns)}", lambda r, o, q: o is not None and o <= ns)

TARGETS = {
    ("point_select", "master"): ratio_at_most(1.01),
    ("point_select", "replica"): ratio_at_most(1.01),
    ("point_select", "replica, 1-replica cluster"): ratio_at_most(1.01),
    ("point_select paired wall", "master"): ratio_at_most(1.01),
    ("point_select paired wall", "replica"): ratio_at_most(1.01),
    ("point_select paired wall", "replica, 1-replica cluster"): ratio_at_most(1.01),
    ("point_select paired wall", "replica, vs raw round-robin"): ratio_at_most(1.01),
    ("async point_select paired wall", "master"): ratio_at_most(1.01),
    ("async point_select paired wall", "replica"): ratio_at_most(1.01),
    ("async point_select paired wall", "master, set_role"): ratio_at_most(1.01),
    ("async point_select paired wall", "replica, set_role"): ratio_at_most(1.01),
    ("async throughput", "64 tasks, pool of 16"): ratio_at_most(1.00),
    ("async throughput", "64 tasks, pool of 16, each server capped at 25% of a CPU"):
        ratio_at_most(1.00),
    ("connect paired wall", "single host"): ratio_at_most(1.10),
    ("connect paired wall", "3 hosts, master"): ratio_at_most(1.15),
    ("connect paired wall", "3 hosts, replica"): ratio_at_most(1.15),
    ("scope", "with_master"): ours_at_most(20),
    ("scope", "guard"): ours_at_most(20),
    ("routing", "typeid_cached/master"): ours_at_most(200),
    ("routing", "typeid_cached/replica"): ours_at_most(200),
}

NOTES = {
    "scope": "no I/O; thread CPU time",
    "routing": "no I/O; thread CPU time",
    "scale_out": "wall time per read over N threads; all 3 nodes + clients share the machine's cores",
    "r2d2": "pool.get() (pings) + point select",
    "read_your_writes": "UPDATE one row, then read it",
}

GROUP_ORDER = ["point_select", "insert", "load_100", "read_your_writes", "r2d2",
               "scale_out", "scope", "routing"]

rows = []
def row(group, case, raw, ours, note="", ratio=None):
    q = ratio if ratio is not None else (ours / raw if raw and ours is not None else None)
    target = TARGETS.get((group, case))
    if target:
        what, ok = target
        verdict = f"{what}: {'met' if ok(raw, ours, q) else 'MISSED'}"
    else:
        verdict = ""
    rows.append((group, case, fmt(raw), fmt(ours), f"{q:.3f}" if q is not None else "-",
                 verdict, note))

groups = sorted({g for g, _, _ in results},
                key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else 99, g))
for g in groups:
    keys = [k for k in results if k[0] == g]
    raws = {v: results[k] for k in keys for (_, f, v) in [k] if f == "raw"}
    ours = sorted((k for k in keys if k[1] != "raw"),
                  key=lambda k: (k[1], int(k[2]) if k[2].isdigit() else k[2]))
    if not raws:
        for _, f, v in ours:
            case = f"{f}/{v}" if v else f
            row(g, case, None, results[(g, f, v)], NOTES.get(g, ""))
        continue
    for _, f, v in ours:
        base = v.split(",")[0]
        if v in raws:
            raw, note = raws[v], NOTES.get(g, "")
        elif base in raws:
            raw, note = raws[base], f"vs raw/{base}"
        elif len(raws) == 1:
            (rv, raw), = raws.items()
            note = f"vs raw/{rv}"
        else:
            raw, note = None, ""
        label = v if f == "ours" else f"{f}/{v}"
        if f == "ours" and g == "scale_out":
            label = f"{v} thread{'s' if v != '1' else ''}"
        if f == "control":
            note = ("control: the ours column is raw run again (the noise floor)"
                    if v == base else
                    "control: the ours column is raw connections to replica1 and replica2 "
                    "used in turn")
        if g == "read_your_writes" and v != "master":
            label = f"{v} (Auto role)"
            note = "vs raw master write + read"
        row(g, label, raw, results[(g, f, v)], note or NOTES.get(g, ""))

# bench-note lines the benches print: bench-note|name|raw ns|ours ns|ratio|detail
notes = []
with open(log, errors="replace") as f:
    for line in f:
        if not line.startswith("bench-note|"):
            continue
        _, name, raw, ours, ratio, detail = line.rstrip("\n").split("|", 5)
        num = lambda s: None if s == "-" else float(s)
        raw, ours, ratio = num(raw), num(ours), num(ratio)
        if raw is None and ours is None:
            notes.append((name, detail))
            continue
        group, _, case = name.rpartition("/")
        row(group, case, raw, ours, detail, ratio)

# callgrind: inclusive instructions of overhead::instr_{raw,ours}_{case} / calls
if os.path.exists(cg_txt) and os.path.exists(cg_log):
    calls = None
    with open(cg_log, errors="replace") as f:
        for line in f:
            if line.startswith("bench-instructions-calls|"):
                calls = int(line.strip().split("|")[1])
    ir = {}
    with open(cg_txt, errors="replace") as f:
        for line in f:
            m = re.match(r"\s*([\d,]+)\s.*overhead::instr_(raw|ours)_(\w+)\s", line)
            if m:
                ir[(m.group(2), m.group(3))] = int(m.group(1).replace(",", ""))
    if calls:
        for case in ("master", "replica", "boxed"):
            r, o = ir.get(("raw", case)), ir.get(("ours", case))
            if r and o:
                rows.append(("client instructions per point select (callgrind)",
                             case if case != "boxed" else "boxed, master",
                             f"{r / calls:,.0f}", f"{o / calls:,.0f}", f"{o / r:.3f}", "",
                             f"ours - raw = {(o - r) / calls:,.0f} instructions"))

# Paired rows read against their control (two raw connections compared the same way).
control = next((r for r in rows
                if r[0] == "point_select paired control wall" and r[1] == "master"), None)
if control:
    for k, r in enumerate(rows):
        if r[0] == "point_select paired wall" and r[5]:
            rows[k] = r[:5] + (f"{r[5]} (control raw/raw: {control[4]})",) + r[6:]

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
except OSError:
    pass

out = []
out.append(f"Benchmarks of `{command}`, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: "
           f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; "
           f"load average {load_before} before, {load_after} after. "
           "The master, both replicas and the benchmark client all run on this machine; "
           f"{spin}. Medians; ours/raw = ours median / raw median, except the paired rows "
           "(median of per-round ratios).")
out.append("")
out.append("| group | case | raw (median) | ours (median) | ours/raw | target | notes |")
out.append("|---|---|---|---|---|---|---|")
for r in rows:
    out.append("| " + " | ".join(r) + " |")
if notes:
    out.append("")
    for name, detail in notes:
        out.append(f"- {name}: {detail}")
print("\n".join(out))
PY

cat "$TABLE"
echo "=== table written to $TABLE; total: $((SECONDS - T_ALL)) s, cargo bench exit status $rc" >&2
exit "$rc"
