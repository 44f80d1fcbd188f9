#!/usr/bin/env bash
# The CKA benchmark (issue 2): the all-pairs minibatch CKA heatmap of 16 layers (per-example shapes
# 16x16x16, 32x8x8, 64x4x4; n = 4096; float32; batch 256), whole-process wall time and peak memory
# (/usr/bin/time -v) of
#   1. repscope heatmap                                  (Repscope: U-centred Grams, one G G' per batch)
#   2. bench/cka_paper_torch.py                          (the paper's algorithm in PyTorch, Debian python3-torch)
#   3. RepscopeBench naive                               (the naive way: Cka.Minibatch for every pair, same libtorch as 1)
#   then RepscopeBench parts: the minibatch phase alone in a warm process, and its parts (hash, reading, Grams)
#   4. bench/cka_paper_torch.py --naive  (only with --torch-naive: the naive way in PyTorch; very slow)
# plus the machine's float32 matrix-multiply rate, measured in the same run.
# Usage: bench/run_cka_bench.sh [--threads T] [--repeat N] [--work DIR] [--torch-naive]   (SKIP_NAIVE=1: without run 3)
# --repeat N (default 1): Repscope and PyTorch run N times each, alternating; each keeps its fastest run (min of N).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="$(nproc --all)"; work="/tmp/repscope-cka-bench"; torch_naive=0; repeat=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --torch-naive) torch_naive=1; shift ;;
    *) echo "usage: $0 [--threads T] [--repeat N] [--work DIR] [--torch-naive]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" REPSCOPE_PLAIN_PROGRESS=1
data="$work/acts.npz"
[[ -f "$data" ]] || /usr/bin/python3 "$root/bench/make_cka_bench_data.py" "$data"

# Builds are not timed.
"$root/repscope" version >/dev/null
dotnet build "$root/bench/RepscopeBench/RepscopeBench.csproj" -c Release -o "$work/benchbin" -nologo -v quiet >/dev/null
bench="$work/benchbin/RepscopeBench"

timed() {  # name, command...: wall seconds and peak RSS into $work/$name.time (the fastest of the runs so far)
  local name="$1"; shift
  /usr/bin/time -v -o "$work/$name.try.time" "$@" >"$work/$name.try.out" 2>"$work/$name.try.err"
  if [[ ! -f "$work/$name.time" ]] || /usr/bin/python3 - "$work/$name.try.time" "$work/$name.time" <<'PY'
import re, sys
def wall(p):
    h, m, s = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", open(p).read()).groups()
    return (int(h) if h else 0) * 3600 + int(m) * 60 + float(s)
sys.exit(0 if wall(sys.argv[1]) < wall(sys.argv[2]) else 1)
PY
  then
    for f in time out err; do mv "$work/$name.try.$f" "$work/$name.$f"; done
  fi
}
rm -f "$work"/{repscope,torch,naive,torch_naive}.{time,out,err}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores, $(free -g | awk '/Mem:/ {print $2}') GB RAM; threads used: $threads"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "PyTorch BLAS: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') with $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
  echo "input: $(du -mL "$data" | cut -f1) MB ($data)"
} >"$work/conditions.txt"

"$bench" sgemm "$threads" >"$work/sgemm.txt"
# The paper's batches: 256 consecutive rows in file order, as cka_paper_torch.py takes them.
for ((r = 0; r < repeat; r++)); do
  timed repscope "$root/repscope" heatmap "$data" --out "$work/repscope" --batch-size 256 --no-shuffle
  timed torch /usr/bin/python3 "$root/bench/cka_paper_torch.py" "$data" "$work/torch.json" --threads "$threads"
done
[[ ${SKIP_NAIVE:-0} == 1 ]] || timed naive "$bench" naive "$data" "$work/naive.json"
if [[ $torch_naive == 1 ]]; then
  timed torch_naive /usr/bin/python3 "$root/bench/cka_paper_torch.py" "$data" "$work/torch_naive.json" --threads "$threads" --naive
fi
# The minibatch phase alone (reading and computing, as the heatmap's, in a warm process with nothing beside it: no SHA-256
# of the input, no figure, no compilation), best of 5; with its parts (RepscopeBench parts).
"$bench" parts "$data" 5 "$threads" >"$work/parts.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/conditions.txt"

REPEAT="$repeat" /usr/bin/python3 - "$work" <<'PY'
import json, os, re, sys
import numpy as np
work = sys.argv[1]
def time_of(name):
    t = open(os.path.join(work, name + ".time")).read()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", t)
    h, m, s = wall.groups()
    sec = (int(h) if h else 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
    return sec, rss, cpu
def matrix(path):
    return np.array(json.load(open(path))["values"], dtype=float)
print(open(os.path.join(work, "conditions.txt")).read().strip())
print(open(os.path.join(work, "sgemm.txt")).read().strip())
ref = matrix(os.path.join(work, "repscope", "cka.json"))
runs = [("repscope", "Repscope `heatmap` (G G' per batch)", os.path.join(work, "repscope", "cka.json")),
        ("torch", "PyTorch, paper's algorithm", os.path.join(work, "torch.json")),
        ("naive", "naive per pair (Repscope library, same libtorch)", os.path.join(work, "naive.json")),
        ("torch_naive", "naive per pair (PyTorch)", os.path.join(work, "torch_naive.json"))]
base_t, base_m, base_c = time_of("repscope")
print("\n| run | wall s | CPU s (user + sys) | peak RSS MB | time vs Repscope | memory vs Repscope | max abs diff from Repscope's matrix |")
print("|---|---|---|---|---|---|---|")
for key, label, path in runs:
    if not os.path.exists(os.path.join(work, key + ".time")):
        continue
    t, m, c = time_of(key)
    diff = np.nanmax(np.abs(matrix(path) - ref))
    print(f"| {label} | {t:.2f} | {c:.2f} | {m:.0f} | {t / base_t:.2f}x | {m / base_m:.2f}x | {diff:.1e} |")
torch_t = time_of("torch")[0]
print(f"\nRepscope / PyTorch (wall, min of {os.environ.get('REPEAT', '1')}): {base_t / torch_t:.2f} (issue 14's target: <= 0.30)")
# Gram work of the Repscope run: 2 b^2 p flops per layer and batch.
with np.load(os.path.join(work, "acts.npz")) as f:
    shapes = [f[k].shape for k in f.files]
n = shapes[0][0]; b = 256
flops = sum(2 * min(b, n - s) ** 2 * int(np.prod(sh[1:])) for sh in shapes for s in range(0, n, b))
err = open(os.path.join(work, "repscope.err")).read()
phase = float(re.search(r"minibatch CKA: done in ([\d.]+)s", err).group(1))
peak = max(float(x) for x in re.findall(r"([\d.]+) GFLOP/s", open(os.path.join(work, "sgemm.txt")).read()))
print(f"Repscope: input arrays {sum(np.prod(s) for s in shapes) * 4 / 2**20:.0f} MiB; Gram work {flops / 1e9:.1f} GFLOP; "
      f"minibatch phase {phase:.2f} s = {flops / phase / 1e9:.1f} GFLOP/s for the whole phase, "
      f"{100 * flops / phase / 1e9 / peak:.0f}% of the measured sgemm peak ({peak:.1f} GFLOP/s; target >= 60%)")
parts = open(os.path.join(work, "parts.txt")).read()
alone = float(re.search(r"stream \+ accumulate \(phase\), Grams: Syrk\s+wall\s+([\d.]+) s", parts).group(1))
print(f"Minibatch phase alone (the same reading and computing in a warm process, nothing beside it; RepscopeBench parts, best of 5): "
      f"{alone:.3f} s = {flops / alone / 1e9:.1f} GFLOP/s, {100 * flops / alone / 1e9 / peak:.0f}% of the sgemm peak")
print("Its parts (best of 5 each, alone):")
print(parts.strip())
PY
