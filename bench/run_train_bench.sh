#!/usr/bin/env bash
# Training throughput: Repscope (TorchSharp) vs PyTorch (Debian python3-torch), the same ResNet, the same
# loop (crop pad 4 + flip, forward, cross-entropy, backward, SGD momentum 0.9 + weight decay), batch 128,
# the same thread count, in lock step (bench/train_lockstep.py: both sides warmed up, then alternating
# WINDOW-second windows, ROUNDS rounds in A B | B A order; the median of the per-round ratios with a 95 %
# bootstrap interval). Then the peak memory (max RSS) of a real training run. Writes bench/train_results.md and
# bench/out/*.
# Usage: bench/run_train_bench.sh     (THREADS=2 WINDOW=2 ROUNDS=10 WARMUP=3 by default; CONFIGS="depth:width:size:channels ...")
# PYTORCH_FORMAT=channels_last: the PyTorch side runs in channels-last memory order (the tuned baseline; results in
# bench/train_results_channels_last.md); the default is PyTorch's default NCHW (bench/train_results.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
THREADS=${THREADS:-2}; WINDOW=${WINDOW:-2}; ROUNDS=${ROUNDS:-10}; WARMUP=${WARMUP:-3}
CONFIGS=${CONFIGS:-"8:1:28:1 8:4:28:1 20:1:28:1 20:4:28:1 56:1:28:1 56:4:28:1"}
out="$root/bench/out"; mkdir -p "$out"
PYTORCH_FORMAT=${PYTORCH_FORMAT:-nchw}; export PYTORCH_FORMAT
case "$PYTORCH_FORMAT" in
  nchw) suffix="" ;;
  channels_last) suffix="_channels_last" ;;
  *) echo "run_train_bench.sh: PYTORCH_FORMAT must be nchw or channels_last, got '$PYTORCH_FORMAT'" >&2; exit 2 ;;
esac
jsonl="$out/train_bench$suffix.jsonl"; : > "$jsonl"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
dotnet build bench/TrainBench -c Release -o "$out/trainbench" -nologo -v quiet >"$out/trainbench-build.log" 2>&1 \
  || { tail -20 "$out/trainbench-build.log"; exit 1; }

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, load average $load_start at start; threads $THREADS, $ROUNDS rounds of ${WINDOW}s windows per side after $WARMUP warm-up steps" >&2
for c in $CONFIGS; do
  /usr/bin/python3 bench/train_lockstep.py "$out/trainbench/TrainBench" "$THREADS" "$WINDOW" "$ROUNDS" "$WARMUP" "$c" | tee -a "$jsonl"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
versions="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"

# Peak memory of a real training run (ResNet-20, shipped Fashion-MNIST, 1,000 training images, 1 epoch).
rm -rf "$out/mem-run"
/usr/bin/time -v ./repscope train --depth 20 --data fashion-mnist-small --train-examples 1000 --epochs 1 \
  --threads "$THREADS" --out "$out/mem-run" >"$out/mem-run.log" 2>&1
rss_kb=$(grep 'Maximum resident set size' "$out/mem-run.log" | awk '{print $NF}')

/usr/bin/python3 - "$jsonl" "$rss_kb" "$THREADS" "$WINDOW" "$ROUNDS" "$load_start" "$load_end" "$versions" "$PYTORCH_FORMAT" > "bench/train_results$suffix.md" <<'PY'
import json, sys, datetime
path, rss_kb, threads, window, rounds, load_start, load_end, torch_version, torch_format = sys.argv[1:10]
rows = [json.loads(l) for l in open(path) if l.strip()]
print(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {threads} threads, batch 128, lock step: {rounds} rounds of "
      f"{window} s windows per side (A B | B A ...); load average {load_start} at the start, {load_end} at the end. "
      f"Repscope: TorchSharp 0.107 / libtorch 2.10; PyTorch {torch_version} (OpenBLAS), "
      f"{'channels-last memory order (model.to(memory_format=torch.channels_last))' if torch_format == 'channels_last' else 'default NCHW memory order'}.\n")
print("| model | input | Repscope img/s | PyTorch img/s | Repscope / PyTorch (median of rounds) | 95 % interval | rounds below 1 |")
print("|---|---|---:|---:|---:|---|---:|")
for r in rows:
    below = sum(x < 1 for x in r["ratios"])
    print(f"| ResNet-{r['depth']} width {r['width']:g} | {r['size']}x{r['size']}x{r['channels']} | {r['repscopeImagesPerSecond']:.1f} | "
          f"{r['pytorchImagesPerSecond']:.1f} | {r['ratio']:.2f} | {r['ratioLow']:.2f}-{r['ratioHigh']:.2f} | {below} of {len(r['ratios'])} |")
print(f"\nPeak memory (max RSS) of `repscope train --depth 20 --data fashion-mnist-small --train-examples 1000 --epochs 1`: {int(rss_kb) / 1024:.0f} MiB.")
PY
cat "bench/train_results$suffix.md"
