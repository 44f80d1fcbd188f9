#!/usr/bin/env bash
# The CCA-family benchmark (issue 12): all-pairs maps of the 16-layer CKA benchmark input
# (bench/make_cka_bench_data.py: 6 x 16x16x16, 5 x 32x8x8, 5 x 64x4x4 features per example), whole data,
# float64, whole-process wall time and peak memory (/usr/bin/time -v) of
#   1. repscope heatmap acts.npz --measure M          (Repscope: one thin SVD per layer, a small product per pair)
#   2. bench/measures_numpy.py acts.npz M             (the same plan in numpy, Debian python3-numpy)
# for each measure M, same threads, same input, one run; the matrices are checked to agree.
# Usage: bench/run_measures_bench.sh [--n N] [--measures "cca svcca pwcca"] [--threads T] [--work DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=1; n=4096; measures="cca svcca pwcca"; work="/tmp/repscope-measures-bench"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) n="$2"; shift 2 ;;
    --measures) measures="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "usage: $0 [--n N] [--measures \"cca svcca pwcca\"] [--threads T] [--work DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" REPSCOPE_PLAIN_PROGRESS=1
data="$work/acts-$n.npz"
[[ -f "$data" ]] || /usr/bin/python3 "$root/bench/make_cka_bench_data.py" "$data" --n "$n"
"$root/repscope" version >/dev/null   # the build is not timed

timed() {  # name, command...: wall seconds and peak RSS into $work/$name.time
  local name="$1"; shift
  /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || true
}
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; threads used: $threads"
  echo "input: n = $n, $(du -m "$data" | cut -f1) MB"
} >"$work/conditions.txt"
for m in $measures; do
  echo "load average before $m: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/conditions.txt"
  timed "repscope-$m" "$root/repscope" heatmap "$data" --measure "$m" --out "$work/repscope"
  timed "numpy-$m" /usr/bin/python3 "$root/bench/measures_numpy.py" "$data" "$m" "$work/numpy-$m.json"
  echo "load average after $m: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/conditions.txt"
done

/usr/bin/python3 - "$work" $measures <<'PY'
import json, os, re, sys
import numpy as np
work, measures = sys.argv[1], sys.argv[2:]
def time_of(name):
    t = open(os.path.join(work, name + ".time")).read()
    h, m, s = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", t).groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    return (int(h) if h else 0) * 3600 + int(m) * 60 + float(s), rss
def matrix(path):
    return np.array([[np.nan if v is None else v for v in row] for row in json.load(open(path))["values"]])
print(open(os.path.join(work, "conditions.txt")).read().strip())
print("\n| measure | defined pairs | Repscope wall s | numpy wall s | numpy / Repscope | Repscope peak MB | numpy peak MB | max abs diff |")
print("|---|---|---|---|---|---|---|---|")
for m in measures:
    (rt, rm), (nt, nm) = time_of("repscope-" + m), time_of("numpy-" + m)
    a, b = matrix(os.path.join(work, "repscope", m + ".json")), matrix(os.path.join(work, f"numpy-{m}.json"))
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{m}: undefined entries differ"
    print(f"| {m} | {int(np.sum(~np.isnan(a)))} | {rt:.1f} | {nt:.1f} | {nt / rt:.2f}x | {rm:.0f} | {nm:.0f} | {np.nanmax(np.abs(a - b)):.1e} |")
PY
