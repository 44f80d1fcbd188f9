#!/usr/bin/env bash
# Splits one `repscope layers` or `repscope compare` (or `heatmap`) across Slurm jobs (docs/slurm.md):
#
#   examples/slurm/shard.sh N OUT layers RUN|MODEL.onnx [options...]
#   examples/slurm/shard.sh N OUT compare A B [options...]
#
# writes OUT/slurm/shards.sbatch (a job array of N tasks; task K runs the command with --shard K/N
# --state OUT/states/shard_K.npz) and OUT/slurm/merge.sbatch (`repscope merge` of the N states into OUT),
# submits the array, then the merge with --dependency=afterok on the whole array (cancelled if a shard
# fails), and prints both job ids. The scripts stay readable and rerunnable: one task by hand is
# `SLURM_ARRAY_TASK_ID=2 bash OUT/slurm/shards.sbatch`.
#
# Environment: REPSCOPE, the command that runs repscope on the nodes (default: this checkout's CLI,
# built once here, `dotnet <repo>/.build/cli/Repscope.Cli.dll`); SHARD_SBATCH_ARGS, extra sbatch
# options for both jobs (e.g. "--partition=cpu --time=00:30:00 --cpus-per-task=4 --mem=8G");
# sbatch's own input variables (SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_ACCOUNT, ...) apply too.
# OUT must be on a file system every node mounts at the same path.
set -euo pipefail
if [[ $# -lt 4 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N OUT layers|compare|heatmap INPUT... [options...]" >&2
  exit 2
fi
n="$1"; out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2
case "$1" in layers|compare|heatmap) ;; *) echo "$0: '$1' cannot be sharded (layers, compare or heatmap)" >&2; exit 2 ;; esac
if [[ -z "${REPSCOPE:-}" ]]; then
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  "$repo/repscope" version >/dev/null   # builds the CLI once, here, not in N tasks at the same time
  REPSCOPE="dotnet $repo/.build/cli/Repscope.Cli.dll"
fi
mkdir -p "$out/slurm/logs" "$out/states"
command="$(printf '%q ' "$@")"
extra="${SHARD_SBATCH_ARGS:-}"

cat >"$out/slurm/shards.sbatch" <<SCRIPT
#!/usr/bin/env bash
#SBATCH --job-name=repscope-shard
#SBATCH --array=1-$n
#SBATCH --chdir=$PWD
#SBATCH --output=$out/slurm/logs/shard_%A_%a.log
# Task K of $n: slice K of the minibatches of \`repscope $1\`, written as an accumulator state.
set -euo pipefail
k="\${SLURM_ARRAY_TASK_ID:?run as an array task, or set SLURM_ARRAY_TASK_ID=K}"
exec $REPSCOPE $command --shard "\$k/$n" --state "$out/states/shard_\$k.npz"
SCRIPT

cat >"$out/slurm/merge.sbatch" <<SCRIPT
#!/usr/bin/env bash
#SBATCH --job-name=repscope-merge
#SBATCH --chdir=$PWD
#SBATCH --output=$out/slurm/logs/merge_%j.log
# The outputs of one unsharded \`repscope $1\` from the $n states (merge refuses a missing, repeated or foreign one).
set -euo pipefail
exec $REPSCOPE merge $(for k in $(seq 1 "$n"); do printf '%q ' "$out/states/shard_$k.npz"; done)--out "$out"
SCRIPT

# shellcheck disable=SC2086  # SHARD_SBATCH_ARGS is a list of options
array="$(sbatch --parsable $extra "$out/slurm/shards.sbatch")"
array="${array%%;*}"
# shellcheck disable=SC2086
merge="$(sbatch --parsable $extra --dependency="afterok:$array" --kill-on-invalid-dep=yes "$out/slurm/merge.sbatch")"
merge="${merge%%;*}"
echo "shards: $array (array 1-$n), merge: $merge (after all shards)"
echo "follow: squeue -j $array,$merge   logs: $out/slurm/logs/"
