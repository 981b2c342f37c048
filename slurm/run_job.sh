#!/bin/bash
# run_job.sh - the body of the sbatch scripts in slurm/: check, launch, requeue.
#
#   slurm/run_job.sh CONFIG [resnet_dist arguments...]      (inside a Slurm job)
#
# 1. Check first.  `resnet_dist --config CONFIG ARGS --dry-run` runs as one
#    process on the batch node: configuration, data paths, memory plan and
#    checkpoint folder.  A mistake ends the job within seconds with the
#    program's one-line message in the job's output and exit status 2, instead
#    of failing on every rank after the job waited for its nodes.
# 2. Launch one rank per Slurm task: `srun --mpi=pmix` (the ranks receive
#    Slurm's signals themselves: --signal=USR1@120, scancel --signal=USR1,
#    preemption's SIGTERM), or Open MPI's mpirun inside the allocation with
#    RD_LAUNCHER=mpirun (or when Slurm has no pmix plugin).  Every run gets
#    --set checkpoint.resume=auto and --set log.dir=RUN_DIR ahead of the
#    user's arguments (so the user's win): a requeued job, which keeps its job
#    id, continues its own run.
# 3. Requeue.  Exit status 124 from the ranks is the program's contract for
#    "a signal asked us to stop; every rank stopped at the same step boundary
#    and rank 0 wrote a checkpoint".  This script then runs `scontrol requeue
#    $SLURM_JOB_ID`: the job goes back to the queue (Slurm holds a requeued job
#    about two minutes before it may start again) and its next start resumes
#    exactly from that checkpoint.  Signals that reach this script itself
#    (scancel --batch or --full, --signal=B:USR1@T) are passed to the launcher,
#    which passes them to the ranks.
#
# Environment:
#   RD_ROOT      the resnet_dist checkout (default: $SLURM_SUBMIT_DIR)
#   RD_BIN       the program (default: $RD_ROOT/build/src/resnet_dist)
#   RD_RUN_DIR   run directory (default: runs/<job name>-<job id> in the job's
#                working folder)
#   RD_LAUNCHER  srun or mpirun (default: srun when Slurm has mpi/pmix)
#   RD_LAUNCH_ARGS  extra words for srun / mpirun (split on spaces)
# Exit status: the program's (0 done, 1 failure, 2 bad input), or 124 when the
# job was stopped but could not be requeued (resubmit with RD_RUN_DIR set to
# the same run directory to continue).
set -uo pipefail

say() { echo "run_job: $(date '+%F %T') $*"; }
die() { echo "run_job: error: $*"; exit 2; }

[ $# -ge 1 ] || die "usage: run_job.sh CONFIG [resnet_dist arguments...]"
[ -n "${SLURM_JOB_ID:-}" ] || die "not inside a Slurm job (submit an sbatch script of slurm/)"
config=$1
shift
root=${RD_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
bin=${RD_BIN:-$root/build/src/resnet_dist}
run_dir=${RD_RUN_DIR:-runs/${SLURM_JOB_NAME:-job}-$SLURM_JOB_ID}
[ -x "$bin" ] || die "program '$bin' not found: build it (cmake --build build) or set RD_BIN"
[ -r "$config" ] || die "config '$config' not found (relative paths start at $PWD); set RD_CONFIG"

export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  # since Slurm 22.05 srun no longer inherits --cpus-per-task from sbatch
  export SRUN_CPUS_PER_TASK=${SRUN_CPUS_PER_TASK:-$SLURM_CPUS_PER_TASK}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}
fi

prog=("$bin" --config "$config" --set checkpoint.resume=auto --set "log.dir=$run_dir" "$@")
# the user's own --set log.dir=... wins (it comes later); name that one
prev=""
for a in "$@"; do
  [ "$prev" = --set ] && [[ $a == log.dir=* ]] && run_dir=${a#log.dir=}
  prev=$a
done
say "job ${SLURM_JOB_ID} (${SLURM_JOB_NAME:-}, restarts ${SLURM_RESTART_COUNT:-0}):" \
  "${SLURM_NTASKS:-1} task(s) on ${SLURM_JOB_NUM_NODES:-1} node(s) [${SLURM_JOB_NODELIST:-}]," \
  "run dir $run_dir"

# Stop requests (Slurm's --signal=USR1@T, scancel --signal, preemption's
# SIGTERM) are caught from the start.  They reach the ranks as SIGUSR1 whatever
# arrived: srun answers SIGTERM by killing its tasks and mpirun by aborting the
# job, which would lose the checkpoint, while both pass SIGUSR1 through (and
# resnet_dist treats USR1 and TERM alike: checkpoint, exit 124).
child="" signalled=0 pending=""
forward() {
  signalled=1 pending=$1
  say "got SIG$1; asking the ranks to stop at the next step (SIGUSR1)"
  [ -n "$child" ] && kill -s USR1 "$child" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

requeue() {
  if scontrol requeue "$SLURM_JOB_ID"; then
    say "requeued: the next start resumes from the checkpoint in $run_dir"
    exit 0
  fi
  say "scontrol requeue failed; Slurm may be requeueing the job itself (preemption with" \
      "PreemptMode=REQUEUE): check 'scontrol show job $SLURM_JOB_ID'.  Only if it is not" \
      "requeued, resubmit with RD_RUN_DIR=$run_dir to resume (never while it still runs)"
  exit 124
}

# 1. Check, as a single process: the batch shell's SLURM_PROCID / SLURM_NTASKS
# would otherwise look like an srun launch to resnet_dist.
say "checking: ${prog[*]} --dry-run"
env -u SLURM_PROCID -u SLURM_NTASKS -u SLURM_NPROCS -u SLURM_LOCALID "${prog[@]}" --dry-run
rc=$?
if [ $rc != 0 ]; then
  say "the check failed (exit status $rc): fix the configuration or data above; no rank was started"
  exit $rc
fi
if [ -n "$pending" ]; then
  say "stop requested (SIG$pending) before the ranks started; requeueing job $SLURM_JOB_ID"
  requeue
fi

# 2. Launch.
launcher=${RD_LAUNCHER:-}
if [ -z "$launcher" ]; then
  # (no pipe into grep -q: under pipefail an early grep exit would SIGPIPE srun)
  mpis=$(srun --mpi=list 2>&1 || true)
  if [[ $mpis =~ (^|[^[:alnum:]_])pmix([^[:alnum:]_]|$) ]]; then launcher=srun; else launcher=mpirun; fi
fi
read -r -a extra <<<"${RD_LAUNCH_ARGS:-}"
case $launcher in
  # --kill-on-bad-exit=0: the first rank to exit 124 must not kill the others
  # (a cluster's KillOnBadExit=1 default would turn the requeue into a failure)
  srun) launch=(srun --mpi=pmix --kill-on-bad-exit=0 "${extra[@]}") ;;
  mpirun)
    launch=(mpirun --bind-to none)
    [ "$(id -u)" = 0 ] && launch+=(--allow-run-as-root)
    [ -n "${OMPI_MCA_btl:-}" ] || launch+=(--mca btl self,vader,tcp)
    launch+=("${extra[@]}") ;;
  *) die "RD_LAUNCHER=$launcher: expected srun or mpirun" ;;
esac

say "launching: ${launch[*]} ${prog[*]}"
"${launch[@]}" "${prog[@]}" &
child=$!
# a signal that came between the fork and `child=$!` found no child to tell
[ -n "$pending" ] && kill -s USR1 "$child" 2>/dev/null
# A trapped signal makes `wait` return early (status > 128): keep waiting
# until the launcher itself has ended, and report its own exit status.
while :; do
  signalled=0
  wait "$child"
  rc=$?
  [ "$signalled" = 1 ] || break
  kill -0 "$child" 2>/dev/null && continue
  wait "$child"                 # it ended meanwhile: its status (127: already had it)
  last=$?
  [ "$last" = 127 ] || rc=$last
  break
done
trap - USR1 TERM

# 3. Done, failed, or stopped for a requeue.
case $rc in
  0) say "finished"; exit 0 ;;
  124)
    say "the ranks stopped after a checkpoint (exit status 124); requeueing job $SLURM_JOB_ID"
    requeue ;;
  *) say "the ranks failed (exit status $rc)"; exit $rc ;;
esac
