#!/usr/bin/env bash
# Time and peak memory of `repscope layers`-style analysis of ResNet-56 over 55 taps (stem, 27 block
# outputs, 27 branches) on 10,000 CIFAR-shaped examples: minibatch CKA (batches of 256) + streaming
# PC1 per layer + block structure. Usage: bench/analysis_bench.sh [examples] [depth] [width] [batch] [blocks|branches|all]
# RSS_PER_PASS=1 / RSS_PER_BATCH=1: resident size, high-water mark, managed and C heap per pass / per batch; SKIP_FLOOR=1: no floor pass;
# MALLOC_INFO=DIR: glibc's malloc_info per batch into DIR; ONLY=pc|cka: only that part (diagnosis); REPLICATES=N: the score's bootstrap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build "$root/bench/analysis_bench/AnalysisBench.csproj" -c Release --nologo -v q >/dev/null
/usr/bin/time -v dotnet "$root/bench/analysis_bench/bin/Release/net10.0/AnalysisBench.dll" "${1:-10000}" "${2:-56}" "${3:-1}" "${4:-256}" "${5:-branches}" 2> >(grep --line-buffered -E "Maximum resident|Elapsed \(wall|done in|working set|high-water mark" >&2)
