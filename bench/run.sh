#!/usr/bin/env bash
# bench/run.sh - training and evaluation throughput of nnsweep's cpu backend
# next to PyTorch on the same machine, measured alternately in the same run,
# and the MPI sweep comparison (one worker with all threads against one
# worker per core). Writes a markdown report (bench/RESULTS.md has one).
#
#   bench/run.sh [-b BUILD] [-r REPS] [-s SECONDS] [-t THREADS] [-o OUT.md]
#                [-d CIFAR10_DIR] [--no-rt] [--no-sweep] [--cases "mlp cnn2x32 ..."]
#
#   -b  build directory with bench/bench_train and nnsweep (default: build)
#   -r  repetitions of every measurement (default 3; ranges are min-max)
#   -s  seconds per measurement after the warm-up (default 1)
#   -t  threads of both (default: all CPUs of this process)
#   -o  report file (default: bench-report.md in the current directory);
#       every repetition's figures go beside it, OUT.tsv (rep, who: nnsweep,
#       torch or torch1, case, train and eval images/s) and, with the sweep,
#       OUT-sweep.tsv (rep, configuration, wall s, training images, busy s)
#   -d  CIFAR-10 for the sweep (default: $CIFAR10_DIR, else
#       data/cifar-10-batches-bin of this checkout, where `make data` puts it)
#   --no-rt     do not run the throughput measurements at real-time priority
#   --no-sweep  skip the mpirun sweep comparison
#
# Method. Each repetition runs every case once in nnsweep (bench_train) and
# once in PyTorch (bench/torch_bench.py with Debian's /usr/bin/python3 and
# python3-torch), one process per case and pass, alternating, so that both
# see the same machine. On a shared machine each process runs under
# `chrt -f 50` when allowed (a few seconds each): the measurement is then
# not interrupted by other users' processes; --no-rt turns it off. PyTorch
# is also measured at 1 thread ("PyTorch best" takes the faster of its 1-
# and T-thread figures, for training and for evaluation, so that a ratio
# never flatters nnsweep because PyTorch's own threads fight over the
# cores: its MLP evaluates 4-6x faster at 1 thread). "1 thread" is
# torch.set_num_threads(1): Debian's torch leaves OpenBLAS's own threads at
# the CPU count, so its large products still use every core (its MLP
# evaluation took 6.5 s of CPU in 4.4 s; with OPENBLAS_NUM_THREADS=1 it ran
# at 45k images/s instead of 78k). Ratios are per repetition
# (nnsweep / PyTorch of the same repetition); the table gives their range.
#
# The sweep comparison (item 6) runs bench/sweep_mpi.yaml three ways with
# mpirun (--oversubscribe --bind-to none; not at real-time priority, these
# take ~10-20 s each): -np 3 --threads 1 (two workers, one core each),
# -np 2 --threads T (one worker, all cores), -np 2 --threads 1, and reports
# training images per second of wall time (the same runs each time), both
# end to end (mpirun's wall time) and from the runs' own wall_seconds in the
# results file (without MPI start-up and dataset loading).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=build reps=3 secs=1 threads="" out=bench-report.md rt=1 sweep=1
data=${CIFAR10_DIR:-}
cases="mlp mlp_bn mlp_dropout cnn2x32 cnn2x32_bn cnn2x32_dropout cnn5x32 cnn5x256"
while [ $# -gt 0 ]; do
    case "$1" in
    -b) build=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -s) secs=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -d) data=$2; shift 2 ;;
    --no-rt) rt=0; shift ;;
    --no-sweep) sweep=0; shift ;;
    --cases) cases=$2; shift 2 ;;
    -h | --help) sed -n '2,/^# Method/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
[ -n "$data" ] || data=$root/data/cifar-10-batches-bin
bench=$build/bench/bench_train
nnsweep=$build/nnsweep
py=/usr/bin/python3
[ -x "$bench" ] || { echo "bench/run.sh: $bench not built (cmake --build $build)" >&2; exit 2; }
$py -c 'import torch' 2>/dev/null || { echo "bench/run.sh: $py has no torch (Debian: python3-torch)" >&2; exit 2; }
[ -n "$threads" ] || threads=$(nproc)
prio=()
if [ "$rt" = 1 ] && chrt -f 50 true 2>/dev/null; then prio=(chrt -f 50); fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=$work/raw.tsv # rep  who  case  train_ips  eval_ips

# One process per case and pass: a few seconds each at real-time priority.
# cnn5x256 evaluates in batches of 100 (one step of 500 takes ~8 s here).
run_case() { # rep case
    local rep=$1 c=$2 eb=500 line
    [ "$c" = cnn5x256 ] && eb=100
    for pass in --train-only --eval-only; do
        line=$("${prio[@]}" "$bench" --threads "$threads" --seconds "$secs" --eval-batch $eb $pass "$c" | grep -v '^#')
        echo "$rep nnsweep $line" >>"$raw.$pass"
        line=$("${prio[@]}" $py "$here/torch_bench.py" --threads "$threads" --seconds "$secs" --eval-batch $eb $pass "$c" | grep -v '^#')
        echo "$rep torch $line" >>"$raw.$pass"
        if [ "$threads" != 1 ]; then
            line=$("${prio[@]}" $py "$here/torch_bench.py" --threads 1 --seconds "$secs" --eval-batch $eb $pass "$c" | grep -v '^#')
            echo "$rep torch1 $line" >>"$raw.$pass"
        fi
    done
}

echo "bench/run.sh: $reps repetitions of: $cases (threads $threads${prio:+, chrt -f 50})" >&2
for rep in $(seq "$reps"); do
    for c in $cases; do
        echo "  rep $rep: $c" >&2
        run_case "$rep" "$c"
    done
done
# merge the train and eval lines: rep who case train eval
join_passes() {
    $py - "$raw.--train-only" "$raw.--eval-only" <<'EOF'
import sys
tr = {}
for line in open(sys.argv[1]):
    rep, who, case, t, _ = line.split()
    tr[(rep, who, case)] = t
for line in open(sys.argv[2]):
    rep, who, case, _, e = line.split()
    print(rep, who, case, tr[(rep, who, case)], e)
EOF
}
join_passes >"$raw"

# ---- item 6: the sweep under mpirun ---------------------------------------------
sweep_tsv=$work/sweep.tsv # rep  config  wall_s  train_images  busy_s
if [ "$sweep" = 1 ]; then
    [ -x "$nnsweep" ] || { echo "bench/run.sh: $nnsweep not built" >&2; exit 2; }
    [ -f "$data/test_batch.bin" ] || { echo "bench/run.sh: no CIFAR-10 in $data (-d)" >&2; exit 2; }
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    for rep in $(seq "$reps"); do
        for cfg in "3 1" "2 $threads" "2 1"; do
            set -- $cfg
            np=$1 nt=$2 res=$work/sweep-$rep-$np-$nt.h5
            echo "  rep $rep: sweep mpirun -np $np --threads $nt" >&2
            t0=$(date +%s.%N)
            mpirun --oversubscribe --bind-to none -np "$np" "$nnsweep" sweep "$here/sweep_mpi.yaml" \
                --out "$res" --data "$data" --threads "$nt" --quiet >/dev/null
            t1=$(date +%s.%N)
            NNSWEEP_ANALYSIS="$here/../analysis" $py - "$res" "$rep" "$np" "$nt" "$t0" "$t1" >>"$sweep_tsv" <<'EOF'
import os, sys
path, rep, np_, nt, t0, t1 = sys.argv[1:]
sys.path.insert(0, os.environ["NNSWEEP_ANALYSIS"])
from nnsweep_results import ResultsFile
with ResultsFile(path) as f:
    images, busy = 0, {}
    for _, row in f.summary().iterrows():
        cfg = f.config(row.run_id)
        epochs = int(f.metrics(row.run_id)["epoch"].max())
        images += epochs * cfg["train_images"]
        busy[row.worker_rank] = busy.get(row.worker_rank, 0.0) + float(row.wall_seconds)
print(rep, f"np{np_}_t{nt}", float(t1) - float(t0), images, max(busy.values()))
EOF
        done
    done
fi

# ---- the report ------------------------------------------------------------------
{
    echo "# nnsweep cpu backend vs PyTorch: images per second"
    echo
    cpu=$(lscpu)
    cpu_field() { sed -n "s/^$1: *//p" <<<"$cpu" | head -1; }
    flags=" $(cpu_field Flags) " isa=""
    case "$flags" in *" avx512f "*) isa="AVX-512, " ;; esac
    case "$flags" in *" avx2 "*) isa+="AVX2+FMA" ;; esac
    echo "- machine: $(cpu_field 'Model name')" \
        "(family $(cpu_field 'CPU family'), model $(cpu_field Model)), $(nproc) CPUs ($isa)," \
        "$(free -g | awk '/Mem:/{print $2}') GiB; load average before: $load_before"
    dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | head -1)
    echo "- nnsweep $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')${dirty:+ (+ working tree)}," \
        "$(basename "$(readlink -f /usr/lib/x86_64-linux-gnu/libopenblas.so.0 2>/dev/null || echo openblas)")" \
        "($($py -c 'import ctypes; f = ctypes.CDLL("libopenblas.so.0").openblas_get_corename; f.restype = ctypes.c_char_p; print(f().decode())' 2>/dev/null || echo '?') kernels);" \
        "PyTorch $($py -c 'import torch; print(torch.__version__)')"
    echo "- $reps repetitions, $secs s per measurement after a warm-up, $threads threads," \
        "batch 32, evaluation batch 500 (cnn5x256: 100)${prio:+, each process under chrt -f 50}"
    echo "- command: bench/run.sh -b $build -r $reps -s $secs -t $threads"
    echo
    $py - "$raw" "$threads" <<'EOF'
import sys, statistics as st, collections
path, threads = sys.argv[1], sys.argv[2]
d = collections.defaultdict(dict)  # (case, who) -> rep -> (train, eval)
order = []
for line in open(path):
    rep, who, case, tr, ev = line.split()
    d[(case, who)][rep] = (float(tr), float(ev))
    if case not in order: order.append(case)
def rng(v, fmt="{:.0f}"):
    return (fmt + "-" + fmt).format(min(v), max(v)) if len(v) > 1 else fmt.format(v[0])
def ratios(case, k, other):
    a, b = d[(case, "nnsweep")], d[(case, other)]
    return [a[r][k] / b[r][k] for r in a if r in b and b[r][k] > 0]
def best_ratios(case, k):
    a, b, c = d[(case, "nnsweep")], d[(case, "torch")], d.get((case, "torch1"), {})
    return [a[r][k] / max(b[r][k], c.get(r, (0, 0))[k]) for r in a if r in b]
print("| case | nnsweep train | PyTorch train | ratio | PyTorch 1 thread | ratio to PyTorch best "
      "| nnsweep eval | PyTorch eval | eval ratio | PyTorch eval 1 thread | eval ratio to PyTorch best "
      "| eval / train (nnsweep) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for case in order:
    n = [v[0] for v in d[(case, "nnsweep")].values()]
    t = [v[0] for v in d[(case, "torch")].values()]
    t1 = [v[0] for v in d.get((case, "torch1"), {}).values()]
    ne = [v[1] for v in d[(case, "nnsweep")].values()]
    te = [v[1] for v in d[(case, "torch")].values()]
    te1 = [v[1] for v in d.get((case, "torch1"), {}).values()]
    et = [v[1] / v[0] for v in d[(case, "nnsweep")].values() if v[0] > 0]
    print(f"| {case} | {rng(n)} | {rng(t)} | {rng(ratios(case, 0, 'torch'), '{:.2f}')}x "
          f"| {rng(t1) if t1 else '-'} | {rng(best_ratios(case, 0), '{:.2f}')}x "
          f"| {rng(ne)} | {rng(te)} | {rng(ratios(case, 1, 'torch'), '{:.2f}')}x "
          f"| {rng(te1) if te1 else '-'} | {rng(best_ratios(case, 1), '{:.2f}')}x | {rng(et, '{:.1f}')}x |")
# batch norm and dropout variants against the plain model, per repetition
print()
print("| variant | nnsweep train vs the plain model |")
print("|---|---|")
for case in order:
    if "_" not in case: continue
    base = case.split("_")[0]
    if (base, "nnsweep") not in d: continue
    a, b = d[(case, "nnsweep")], d[(base, "nnsweep")]
    r = [a[k][0] / b[k][0] for k in a if k in b]
    print(f"| {case} | {rng(r, '{:.2f}')}x |")
EOF
    if [ -s "$sweep_tsv" ]; then
        echo
        echo "## Sweep under mpirun (bench/sweep_mpi.yaml, the same 6 runs each time)"
        echo
        $py - "$sweep_tsv" "$threads" <<'EOF'
import sys, collections
path, threads = sys.argv[1], sys.argv[2]
d = collections.defaultdict(list)
for line in open(path):
    rep, cfg, wall, images, busy = line.split()
    d[cfg].append((float(wall), int(images), float(busy)))
names = {"np3_t1": "mpirun -np 3 --threads 1 (2 workers x 1 thread)",
         f"np2_t{threads}": f"mpirun -np 2 --threads {threads} (1 worker x {threads} threads)",
         "np2_t1": "mpirun -np 2 --threads 1 (1 worker x 1 thread)"}
def rng(v, fmt):
    return (fmt + "-" + fmt).format(min(v), max(v))
print("| configuration | wall s | training images/s (wall) | images/s (runs' own time) |")
print("|---|---|---|---|")
for cfg, rows in d.items():
    print(f"| {names.get(cfg, cfg)} | {rng([r[0] for r in rows], '{:.1f}')} "
          f"| {rng([r[1] / r[0] for r in rows], '{:.0f}')} | {rng([r[1] / r[2] for r in rows], '{:.0f}')} |")
two, one_all, one_1 = d.get("np3_t1"), d.get(f"np2_t{threads}"), d.get("np2_t1")
if two and one_all:
    r = [one_all[i][0] / two[i][0] for i in range(min(len(two), len(one_all)))]
    print(f"\n2 workers x 1 thread vs 1 worker x {threads} threads (wall time ratio, per repetition): "
          f"{rng(r, '{:.2f}')}x")
if two and one_1:
    r = [one_1[i][0] / two[i][0] for i in range(min(len(two), len(one_1)))]
    print(f"\n2 workers x 1 thread vs 1 worker x 1 thread: {rng(r, '{:.2f}')}x")
EOF
    fi
} >"$out"
stem=${out%.md}
{ printf 'rep\twho\tcase\ttrain_ips\teval_ips\n'; tr ' ' '\t' <"$raw"; } >"$stem.tsv"
wrote="$out, $stem.tsv"
if [ -s "$sweep_tsv" ]; then
    { printf 'rep\tconfig\twall_s\ttrain_images\tbusy_s\n'; tr ' ' '\t' <"$sweep_tsv"; } >"$stem-sweep.tsv"
    wrote="$wrote, $stem-sweep.tsv"
fi
echo "bench/run.sh: wrote $wrote" >&2
