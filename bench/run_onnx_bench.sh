#!/usr/bin/env bash
# The ONNX benchmark (issue 11): Repscope's ONNX path (OnnxModel.Open + stream + minibatch CKA accumulator, what
# `repscope layers MODEL.onnx --taps ...` does for its CKA map) against ONNX Runtime alone plus the CKA engine alone,
# on the example models of examples/vit-vs-cnn (made by its train_and_export.py; when they are missing, this script
# trains the same architectures briefly into /tmp/repscope-onnx-bench: the timing does not depend on the weights),
# for each model and example count, same threads, best of interleaved rounds.
# Prints per case a line with the baseline (ort, cka, their CPU seconds, load average before and after), then one line per
# way of running Repscope's path: as shipped (pipelined from 2 threads on, OnnxModel.Pipelined), and the splits of
# --also for reference (default "seq:T:T pipe:1:1": the batch-by-batch path, and the pipeline with one thread on each
# side; "pipe:O:C" = pipelined, ONNX Runtime on O threads and the CKA engine on C), each with its ratio
# repscope / (ort + cka), CPU seconds and max|diff| of its map.
# With --omp-wait "default passive", each case also runs with libtorch's OpenMP threads sleeping at once after a
# parallel region (OMP_WAIT_POLICY=PASSIVE for the whole process: the CKA engine alone and Repscope's path alike),
# the first thing to try against the hand-over between ONNX Runtime's and libtorch's threads on 2 cores.
# Usage: bench/run_onnx_bench.sh [--threads T] [--examples "2048 8192"] [--batch B] [--reps R] [--omp-wait "default passive"] [--also "seq:T:T pipe:1:1"]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=2; examples="2048 8192"; batch=256; reps=3; waits=default; also=-
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --examples) examples="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --omp-wait) waits="$2"; shift 2 ;;
    --also) also="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads T] [--examples \"2048 8192\"] [--batch B] [--reps R] [--omp-wait \"default passive\"] [--also \"seq:T:T pipe:O:C\"]" >&2; exit 2 ;;
  esac
done
[[ "$also" != - ]] || also="seq:$threads:$threads pipe:1:1"   # --also "" times only the shipped path
ex="$root/examples/vit-vs-cnn"
if [[ ! -f "$ex/cnn.onnx" || ! -f "$ex/vit.onnx" || ! -f "$ex/test_images.npy" ]]; then
  ex=/tmp/repscope-onnx-bench
  if [[ ! -f "$ex/cnn.onnx" || ! -f "$ex/vit.onnx" || ! -f "$ex/test_images.npy" ]]; then
    echo "onnx bench: the example models are missing; training them briefly into $ex (train_and_export.py --cpu-seconds 30)" >&2
    /usr/bin/python3 "$root/examples/vit-vs-cnn/train_and_export.py" --cpu-seconds 30 --out "$ex" >&2
  fi
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
dotnet build "$root/bench/onnx_bench/OnnxBench.csproj" -c Release -nologo -v quiet >/dev/null   # not timed
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores; threads $threads, batch $batch"
for n in $examples; do
  for m in cnn vit; do
    for w in $waits; do
      case "$w" in
        default) env -u OMP_WAIT_POLICY dotnet "$root/bench/onnx_bench/bin/Release/net10.0/OnnxBench.dll" "$ex/$m.onnx" "$ex/test_images.npy" "$n" "$batch" "$threads" "$reps" "$also" ;;
        passive) echo -n "OMP_WAIT_POLICY=PASSIVE: "
                 OMP_WAIT_POLICY=PASSIVE dotnet "$root/bench/onnx_bench/bin/Release/net10.0/OnnxBench.dll" "$ex/$m.onnx" "$ex/test_images.npy" "$n" "$batch" "$threads" "$reps" "$also" ;;
        *) echo "--omp-wait: default or passive, got $w" >&2; exit 2 ;;
      esac
    done
  done
done
