#!/bin/bash
# stand_in_trainer.sh - a few lines of bash that keep resnet_dist's contract
# with the launch scripts, so the harness test can check slurm/run_job.sh's
# check / launch / requeue plumbing on its own.  The real tests run the real
# program; this one only proves that the Slurm side works.
#
# The contract it keeps (what resnet_dist does, see README "Exit status"):
#   --dry-run            exit 0, or print "error: ..." and exit 2 when an
#                        argument contains BAD (stands for an invalid value)
#   --set log.dir=DIR    the run directory; --set train.max_steps=N the length
#   SIGUSR1 / SIGTERM    finish the current step; rank 0 writes DIR/checkpoint
#                        (the step reached) and DIR/stopped.<restart>; every
#                        rank exits 124 once that exists (the program's barrier)
#   restart              with DIR/checkpoint present, continue from its step
#   end                  rank 0 writes DIR/final: "steps N ranks W"
# Rank and world come from srun (SLURM_PROCID / SLURM_NTASKS) or mpirun
# (OMPI_COMM_WORLD_RANK / _SIZE).  A "step" is 0.1 s of sleep: simulated work.
set -u
dir="" steps=20 dry=0
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry=1 ;;
    --set) shift; case $1 in log.dir=*) dir=${1#log.dir=} ;; train.max_steps=*) steps=${1#*=} ;; esac ;;
  esac
  case ${1:-} in *BAD*) echo "error: stand-in: invalid argument '$1'"; exit 2 ;; esac
  shift
done
[ "$dry" = 1 ] && { echo "stand-in: dry run ok"; exit 0; }
[ -n "$dir" ] || { echo "error: stand-in: no --set log.dir"; exit 2; }
rank=${OMPI_COMM_WORLD_RANK:-${SLURM_PROCID:-0}}
world=${OMPI_COMM_WORLD_SIZE:-${SLURM_NTASKS:-1}}
mkdir -p "$dir"
stop=0
trap 'stop=1' USR1 TERM
step=0
[ -r "$dir/checkpoint" ] && read -r step <"$dir/checkpoint" && [ "$rank" = 0 ] &&
  echo "stand-in: resumed from step $step"
while [ "$step" -lt "$steps" ]; do
  if [ "$stop" = 1 ]; then
    marker=$dir/stopped.${SLURM_RESTART_COUNT:-0}
    if [ "$rank" = 0 ]; then
      echo "$step" >"$dir/checkpoint.tmp" && mv "$dir/checkpoint.tmp" "$dir/checkpoint"
      : >"$marker"
      echo "stand-in: stopped at step $step, checkpoint written"
    fi
    for _ in $(seq 600); do [ -e "$marker" ] && break; sleep 0.05; done
    [ -e "$marker" ] || { echo "error: stand-in: rank 0 wrote no checkpoint"; exit 1; }
    exit 124
  fi
  step=$((step + 1))
  sleep 0.1
  [ "$rank" = 0 ] && echo "stand-in: step $step/$steps"
done
[ "$rank" = 0 ] && echo "steps $step ranks $world" >"$dir/final"
exit 0
