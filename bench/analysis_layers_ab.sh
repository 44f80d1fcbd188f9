#!/usr/bin/env bash
# `repscope layers RUN --layers all` timed with this checkout's CLI and, for a before/after, with another checkout's
# (its root, e.g. a `git worktree add /tmp/main main`): interleaved rounds on private copies of RUN, wall / user / sys
# CPU and peak RSS per round, the load average beside each, and whether the two layers.json (but "seconds" and
# "run") and layers_batches.npz are identical.
# Usage: bench/analysis_layers_ab.sh RUN [OTHER_ROOT] [ROUNDS]   (RUN: a finished run directory, e.g. a quick-grid ResNet-26)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="$(cd "$1" && pwd)"; other="${2:-}"; rounds="${3:-3}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$root/repscope" version >/dev/null                      # build (not timed)
sides=(this); cp -r "$run" "$work/this"; rm -rf "$work/this/analysis"
if [[ -n "$other" ]]; then "$other/repscope" version >/dev/null; sides+=(other); cp -r "$run" "$work/other"; rm -rf "$work/other/analysis"; fi
for r in $(seq "$rounds"); do
  for side in "${sides[@]}"; do
    cli="$root/.build/cli/Repscope.Cli.dll"; [[ $side == other ]] && cli="$other/.build/cli/Repscope.Cli.dll"
    before="$(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" dotnet "$cli" layers "$work/$side" --layers all >/dev/null 2>&1
    read -r wall user sys rss < "$work/time"
    echo "round $r $side: wall ${wall} s, user ${user} s, sys ${sys} s, peak RSS $((rss / 1024)) MiB; load before $before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
if [[ -n "$other" ]]; then
  python3 - "$work/this/analysis" "$work/other/analysis" <<'PY'
import json, sys, filecmp, os
a, b = (json.load(open(os.path.join(d, "layers.json"))) for d in sys.argv[1:])
for d in (a, b): d.pop("seconds"); d.pop("run")
same_npz = filecmp.cmp(*(os.path.join(d, "layers_batches.npz") for d in sys.argv[1:]), shallow=False)
print(f"layers.json identical (but seconds, run): {a == b}; layers_batches.npz identical: {same_npz}")
PY
fi
