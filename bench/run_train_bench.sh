#!/usr/bin/env bash
# Training throughput: Repscope (TorchSharp) vs PyTorch (Debian python3-torch), the same ResNet, the same
# loop (crop pad 4 + flip, forward, cross-entropy, backward, SGD momentum 0.9 + weight decay), batch 128,
# the same thread count, interleaved runs (best of REPS per side, to damp load from other processes).
# Then the peak memory (max RSS) of a real training run. Writes bench/train_results.md and bench/out/*.
# Usage: bench/run_train_bench.sh            (THREADS=2 BENCH_SECONDS=20 WARMUP=2 REPS=2 by default)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
THREADS=${THREADS:-2}; SECONDS_PER=${BENCH_SECONDS:-20}; WARMUP=${WARMUP:-2}; REPS=${REPS:-2}
CONFIGS=${CONFIGS:-"20:1:28:1 20:4:28:1 20:1:32:3 20:4:32:3 56:1:28:1"}
out="$root/bench/out"; mkdir -p "$out"
jsonl="$out/train_bench.jsonl"; : > "$jsonl"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
dotnet build bench/TrainBench -c Release -o "$out/trainbench" -nologo -v quiet >"$out/trainbench-build.log" 2>&1 \
  || { tail -20 "$out/trainbench-build.log"; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; threads $THREADS, at least ${SECONDS_PER}s of timed steps after $WARMUP warm-up steps, best of $REPS" >&2
for rep in $(seq "$REPS"); do
  for c in $CONFIGS; do
    "$out/trainbench/TrainBench" "$THREADS" "$SECONDS_PER" "$WARMUP" "$c" | tee -a "$jsonl"
    /usr/bin/python3 bench/train_bench.py "$THREADS" "$SECONDS_PER" "$WARMUP" "$c" | tee -a "$jsonl"
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# Peak memory of a real training run (ResNet-20, shipped Fashion-MNIST, 1,000 training images, 1 epoch).
rm -rf "$out/mem-run"
/usr/bin/time -v ./repscope train --depth 20 --data fashion-mnist-small --train-examples 1000 --epochs 1 \
  --threads "$THREADS" --out "$out/mem-run" >"$out/mem-run.log" 2>&1
rss_kb=$(grep 'Maximum resident set size' "$out/mem-run.log" | awk '{print $NF}')

/usr/bin/python3 - "$jsonl" "$rss_kb" "$THREADS" "$SECONDS_PER" "$REPS" "$load_end" > bench/train_results.md <<'PY'
import json, sys, datetime
path, rss_kb, threads, seconds, reps, load_end = sys.argv[1:7]
rows = [json.loads(l) for l in open(path) if l.strip()]
best = {}
for r in rows:
    k = (r["depth"], float(r["width"]), r["size"], r["channels"])
    best.setdefault(k, {}).setdefault(r["impl"], []).append(r["imagesPerSecond"])
vers = {r["impl"]: r["version"] for r in rows}
print(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {threads} threads, batch 128, at least {seconds} s of timed steps per measurement, best of {reps} interleaved runs; "
      f"load average at the end {load_end}. Repscope: {vers.get('repscope')}; PyTorch {vers.get('pytorch')}.\n")
print("| model | input | Repscope img/s | PyTorch img/s | Repscope / PyTorch |")
print("|---|---|---:|---:|---:|")
for (d, w, s, c), v in best.items():
    a, b = max(v.get("repscope", [0])), max(v.get("pytorch", [0]))
    print(f"| ResNet-{d} width {w:g} | {s}x{s}x{c} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
print(f"\nPeak memory (max RSS) of `repscope train --depth 20 --data fashion-mnist-small --train-examples 1000 --epochs 1`: {int(rss_kb) / 1024:.0f} MiB.")
PY
cat bench/train_results.md
