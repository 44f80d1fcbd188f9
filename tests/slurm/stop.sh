#!/usr/bin/env bash
# Stops the Slurm that tests/slurm/start.sh started in DIR: cancels its jobs, then stops slurmd,
# slurmctld and munged by the pids in their pid files, and any job processes still running under
# DIR's spool. Safe to call twice, or on a half-started DIR. Leaves DIR in place (logs); removes
# it too with --remove.
set -uo pipefail
dir="${1:?usage: tests/slurm/stop.sh DIR [--remove]}"
[[ -d "$dir" ]] || exit 0
export PATH="$PATH:/usr/sbin:/sbin" SLURM_CONF="$dir/slurm.conf"

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { [[ -s "$1" ]] && tr -dc 0-9 <"$1"; }
stop_pid() {  # pid, name: TERM, wait up to 10 s, then KILL
  local pid="$1" name="$2"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  echo "slurm/stop: $name ($pid) ignored TERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
}

ctld="$(pid_of "$dir/slurmctld.pid")"
slurmd="$(pid_of "$dir/slurmd.pid")"
if [[ -f "$SLURM_CONF" ]] && alive "$ctld"; then
  jobs="$(squeue -h -o %A 2>/dev/null | sort -u)"
  if [[ -n "$jobs" ]]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 100); do [[ -z "$(squeue -h -t R,CG -o %A 2>/dev/null)" ]] && break; sleep 0.1; done
  fi
fi
# Job steps (slurmstepd and what it started) outlive slurmd: stop those of this instance (their environment
# names this SLURM_CONF) by pid.
steps="$(for p in /proc/[0-9]*; do
  [[ "$(cat "$p/comm" 2>/dev/null)" == slurmstepd ]] || continue
  tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" && echo "${p#/proc/}"
done)"
# ... and the processes of the job under each step (proctrack/linuxproc: its descendants), found before anything stops.
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
jobs_left="$(for pid in $steps; do descendants "$pid"; done)"
stop_pid "$slurmd" slurmd
stop_pid "$ctld" slurmctld
for pid in $jobs_left; do kill -KILL "$pid" 2>/dev/null; done
for pid in $steps; do stop_pid "$pid" slurmstepd; done
stop_pid "$(pid_of "$dir/munge/munged.pid")" munged
if [[ "${2:-}" == --remove ]]; then rm -rf "$dir"; fi
exit 0
