#!/bin/bash
# test_slurm_harness.sh - the Slurm test cluster and the job scripts' plumbing,
# without the training program:
#   1. a private one-node cluster comes up (munged, slurmctld, slurmd);
#   2. a 2-task job runs mpi_hello through srun --mpi=pmix and through mpirun
#      inside the allocation, and every rank's all-reduce is right;
#   3. slurm/cpu_smoke.sbatch with a stand-in program (tests/launch/
#      stand_in_trainer.sh keeps resnet_dist's signal / exit-124 contract):
#      scancel --signal=USR1 mid-run -> checkpoint, exit 124, the script
#      requeues the job, it starts again and resumes from the checkpoint;
#      again with RD_LAUNCHER=mpirun and the signal sent to the batch shell
#      (scancel --batch), which passes it on through mpirun;
#   4. the same script with an invalid argument fails within seconds, exit
#      status 2, the stand-in's message in the job output, no rank started;
#   5. the cluster stops and no daemon is left (on failure the same stop runs
#      from the exit trap).
# Skips (77) when not root or slurm-wlm / munge are missing.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/slurm_cluster.sh"
why=$(slurm_cluster_skip_reason)
[ -z "$why" ] || t_skip "$why"
HELLO=${RD_MPI_HELLO:?RD_MPI_HELLO (the mpi_hello test program) must be set}
STAND_IN=$RD_SOURCE/tests/launch/stand_in_trainer.sh
t_scratch
slurm_cluster_start "$T/slurm"

# --- 2. srun --mpi=pmix and mpirun inside an allocation
cat >"$T/hello.sbatch" <<EOF
#!/bin/bash
#SBATCH --job-name=hello
#SBATCH --ntasks=2
#SBATCH --time=00:05:00
echo "srun:"
srun --mpi=pmix $HELLO
echo "mpirun:"
mpirun --allow-run-as-root --mca btl self,vader $HELLO
EOF
id=$(slurm_submit --chdir="$T" --output="$T/%x-%j.out" "$T/hello.sbatch") || t_fail "sbatch refused hello.sbatch"
st=$(slurm_wait_end "$id" 120)
t_show "$T/hello-$id.out"
t_check "hello job COMPLETED (got $st)" [ "$st" = COMPLETED ]
t_check "4 ranks (2 srun + 2 mpirun) with a right all-reduce" \
  [ "$(grep -c 'mpi_hello rank ./2 .* sum 3 expect 3 ok' "$T/hello-$id.out")" = 4 ]

# --- 3. requeue flow of slurm/cpu_smoke.sbatch with the stand-in program
submit_smoke() { # ARGS...: cpu_smoke.sbatch from the checkout, output in $T
  (cd "$RD_SOURCE" && RD_BIN=$STAND_IN slurm_submit --chdir="$T" slurm/cpu_smoke.sbatch "$@")
}
out_has() { grep -q -- "$2" "$T/cpu_smoke-$1.out" 2>/dev/null; }

id=$(submit_smoke --set train.max_steps=40 --set "log.dir=$T/run_rq") || t_fail "sbatch refused cpu_smoke.sbatch"
t_wait_until 60 "step 3 in the job output" out_has "$id" "stand-in: step 3/" ||
  t_fail "the job did not reach step 3 (state $(slurm_job_field "$id" JobState))"
scancel --signal=USR1 "$id"
t_log "sent SIGUSR1 to the steps of job $id"
slurm_requeued() { [ "$(slurm_job_field "$1" Restarts)" = 1 ] && slurm_state_in "$1" PENDING; }
t_check "job requeued (Restarts=1, PENDING)" t_wait_until 60 "job $id requeued" slurm_requeued "$id"
t_log "job $id requeued; begins again at $(slurm_job_field "$id" EligibleTime)"
st=$(slurm_wait_end "$id" 120)
t_show "$T/cpu_smoke-$id.out"
t_check "requeued job COMPLETED (got $st)" [ "$st" = COMPLETED ]
t_check "the ranks stopped with 124 and the script requeued" out_has "$id" "requeueing job $id"
t_check "the second start resumed from the checkpoint" out_has "$id" "stand-in: resumed from step"
t_check "the run finished all 40 steps on 2 ranks" grep -qx "steps 40 ranks 2" "$T/run_rq/final"

# --- 3b. the same with RD_LAUNCHER=mpirun: no job step holds the ranks, so
# the signal goes to the batch shell (scancel --batch).  It is SIGTERM here,
# as preemption sends: the shell must turn it into SIGUSR1 for mpirun (which
# would abort the whole job on SIGTERM, losing the checkpoint) and mpirun
# passes SIGUSR1 to the ranks
id=$(RD_LAUNCHER=mpirun submit_smoke --set train.max_steps=40 --set "log.dir=$T/run_mpirun") ||
  t_fail "sbatch refused cpu_smoke.sbatch"
t_wait_until 60 "step 3 in the job output" out_has "$id" "stand-in: step 3/" ||
  t_fail "the mpirun job did not reach step 3 (state $(slurm_job_field "$id" JobState))"
scancel --batch --signal=TERM "$id"
t_check "mpirun job requeued" t_wait_until 60 "job $id requeued" slurm_requeued "$id"
st=$(slurm_wait_end "$id" 120)
t_show "$T/cpu_smoke-$id.out"
t_check "mpirun job COMPLETED after its requeue (got $st)" [ "$st" = COMPLETED ]
t_check "the batch shell passed SIGTERM on as SIGUSR1" out_has "$id" "got SIGTERM; asking the ranks to stop at the next step (SIGUSR1)"
t_check "mpirun job resumed and finished all 40 steps" grep -qx "steps 40 ranks 2" "$T/run_mpirun/final"

# --- 4. bad input fails fast
t0=$(date +%s)
id=$(submit_smoke --set BAD=1 --set "log.dir=$T/run_bad") || t_fail "sbatch refused cpu_smoke.sbatch"
st=$(slurm_wait_end "$id" 60)
t_show "$T/cpu_smoke-$id.out"
t_log "bad-input job ended $st after $(($(date +%s) - t0)) s"
t_check "bad-input job FAILED (got $st)" [ "$st" = FAILED ]
t_check "exit status 2" [ "$(slurm_job_field "$id" ExitCode)" = 2:0 ]
t_check "the program's message is in the job output" out_has "$id" "error: stand-in: invalid argument"
t_check "no rank was started" out_has "$id" "no rank was started"

# --- 5. stop, and nothing of the cluster is left running
daemons=("${SLURM_PIDS[@]}")
slurm_cluster_stop
none_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
t_check "munged, slurmctld and slurmd (pids ${daemons[*]}) stopped" none_alive "${daemons[@]}"
t_done
