#!/usr/bin/env bash
# Startup of ./repscope calls (issue 15, item 12): scripts call `repscope cka` in loops. Each case runs the built CLI
# (`dotnet .build/cli/Repscope.Cli.dll ...`, what ./repscope execs; the launcher's stamp check adds a `find`) --reps times
# and reports the best wall and user seconds and the median wall (/usr/bin/time), beside two baselines timed in the
# same run: a .NET hello world (what starting the runtime costs; built here) and `python3 -c 'import numpy'` (what a
# numpy user pays before any work). /proc/loadavg is printed before and after.
# Usage: bench/run_startup_bench.sh [--reps N] [--work DIR] [--before DIR]
#   --before DIR: also time another checkout's CLI the same way (its own ./repscope builds it), e.g. the commit before
#                 the startup work: git archive a018913~1 | tar -x -C /tmp/before
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps=10; work="/tmp/repscope-startup-bench"; before=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --before) before="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "usage: $0 [--reps N] [--work DIR] [--before DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work/hello"
export REPSCOPE_PLAIN_PROGRESS=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Builds and inputs are not timed.
"$root/repscope" version >/dev/null
[[ -z "$before" ]] || "$before/repscope" version >/dev/null
cat >"$work/hello/hello.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><InvariantGlobalization>true</InvariantGlobalization></PropertyGroup>
</Project>
XML
echo 'System.Console.WriteLine("hello");' >"$work/hello/Program.cs"
dotnet build "$work/hello/hello.csproj" -c Release -o "$work/hello/out" -nologo -v quiet >/dev/null
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
x = r.standard_normal((500, 64)).astype(np.float32)
y = (x @ r.standard_normal((64, 32)) + r.standard_normal((500, 32))).astype(np.float32)
np.save(f"{sys.argv[1]}/x.npy", x); np.save(f"{sys.argv[1]}/y.npy", y)
np.savez(f"{sys.argv[1]}/acts.npz", a=x, b=y)
PY

# timed NAME CMD...: best wall, best user, median wall of --reps calls
timed() {
  local name="$1"; shift
  local t="$work/times.txt"; : >"$t"
  for ((i = 0; i < reps; i++)); do
    /usr/bin/time -a -o "$t" -f "%e %U" "$@" >/dev/null 2>"$work/stderr.txt" || { echo "$name failed:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
  done
  sort -n "$t" | awk -v name="$name" '{ w[NR] = $1; if (NR == 1 || $2 < u) u = $2 } END { printf "| %-34s | %6.2f | %6.2f | %6.2f |\n", name, w[1], u, w[int((NR + 1) / 2)] }'
}

cases() {
  local cli="$1/.build/cli/Repscope.Cli.dll" tag="$2"
  timed "$tag version" dotnet "$cli" version
  timed "$tag --help" dotnet "$cli" --help
  timed "$tag cka (500 x 64 vs 500 x 32)" dotnet "$cli" cka "$work/x.npy" "$work/y.npy"
  timed "$tag cka --kernel rbf (same)" dotnet "$cli" cka "$work/x.npy" "$work/y.npy" --kernel rbf
  timed "$tag heatmap (2 layers, n = 500)" dotnet "$cli" heatmap "$work/acts.npz" --out "$work/heatmap-${tag%:}"
}

echo "load before: $(cat /proc/loadavg)   reps: $reps   $(nproc) CPUs   $(dotnet --list-runtimes | grep NETCore.App | tail -1)"
echo "| case | best wall s | best user s | median wall s |"
echo "| --- | --- | --- | --- |"
timed "baseline: dotnet hello world" dotnet "$work/hello/out/hello.dll"
timed "baseline: python3 -c 'import numpy'" /usr/bin/python3 -c 'import numpy'
cases "$root" "now:"
[[ -z "$before" ]] || cases "$before" "before:"
echo "load after: $(cat /proc/loadavg)"
