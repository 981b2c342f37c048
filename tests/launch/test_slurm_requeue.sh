#!/bin/bash
# test_slurm_requeue.sh - preemption and requeue under real Slurm, exactly.
#
# On a private one-node cluster, slurm/cpu_smoke.sbatch (configs/smoke.ini,
# shortened, 2 ranks via srun) runs twice:
#   reference: uninterrupted, to the end;
#   preempted: as soon as the job output shows its first training step, the
#     test sends `scancel --signal=USR1 <job>` (what --signal=USR1@T or a
#     preemption warning delivers).  Expected: every rank stops at the same
#     step boundary, rank 0 writes a checkpoint, the ranks exit 124, the script
#     runs `scontrol requeue`, Slurm starts the job again (Restarts=1), the
#     program resumes from the checkpoint (checkpoint.resume=auto) and
#     finishes.
# The two final.safetensors files must be identical, byte for byte.
# Skips (77) when not root or slurm-wlm / munge are missing.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/slurm_cluster.sh"
slurm_test_setup

# 2 epochs x 4 steps (2 ranks x 16 images), a log line every step
SHORT=(--set data.synthetic_train=128 --set data.synthetic_val=32 --set train.epochs=2
       --set train.batch_size=16 --set log.every_steps=1)
submit() { # RUN_DIR_NAME
  (cd "$RD_SOURCE" && RD_BIN=$RD_PROG slurm_submit --chdir="$T" slurm/cpu_smoke.sbatch \
     "${SHORT[@]}" --set "log.dir=$T/$1")
}
out_of() { echo "$T/cpu_smoke-$1.out"; }
has() { grep -qE -- "$2" "$(out_of "$1")" 2>/dev/null; }
requeued() { [ "$(slurm_job_field "$1" Restarts)" = 1 ] && slurm_state_in "$1" PENDING RUNNING COMPLETED; }

# --- reference run
ref=$(submit ref) || t_fail "sbatch refused slurm/cpu_smoke.sbatch"
st=$(slurm_wait_end "$ref" 240)
t_log "reference job $ref: $st"
[ "$st" = COMPLETED ] || { t_show "$(out_of "$ref")"; t_fail "the reference job did not complete"; }

# --- preempted run
id=$(submit pre) || t_fail "sbatch refused slurm/cpu_smoke.sbatch"
t_wait_until 120 "the first training step of job $id" has "$id" "^epoch 1/2 step 1/4 " ||
  { t_show "$(out_of "$id")"; t_fail "job $id never reached its first step"; }
scancel --signal=USR1 "$id" || t_fail "scancel --signal=USR1 $id failed"
t_log "sent SIGUSR1 to the ranks of job $id"
t_wait_until 120 "job $id to be requeued" requeued "$id"
t_log "job $id requeued (Restarts=1); eligible again at $(slurm_job_field "$id" EligibleTime)"
st=$(slurm_wait_end "$id" 240)
t_show "$(out_of "$id")"
t_log "preempted job $id: $st"
t_check "preempted job COMPLETED after its requeue (got $st)" [ "$st" = COMPLETED ]
t_check "Slurm restarted it once (Restarts=$(slurm_job_field "$id" Restarts))" \
  [ "$(slurm_job_field "$id" Restarts)" = 1 ]
t_check "the ranks stopped on the signal and checkpointed" has "$id" "stop requested"
t_check "the script requeued the job" has "$id" "requeueing job $id"
t_check "the second start resumed from the checkpoint" has "$id" "^resuming from "
t_check "the second start did not resume from the very end" \
  bash -c "! grep -q '^resuming from .*global step 8)' '$(out_of "$id")'"
t_check "the preempted run ended after all 8 steps" has "$id" "^done: 8 steps"
t_check "final parameters identical to the uninterrupted run" \
  cmp "$T/ref/final.safetensors" "$T/pre/final.safetensors"
t_done
