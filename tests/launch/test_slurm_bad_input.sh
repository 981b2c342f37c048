#!/bin/bash
# test_slurm_bad_input.sh - a job with bad input fails in seconds, and says why
# in its own output.
#
# On a private one-node cluster, slurm/cpu_smoke.sbatch is submitted three
# times with a mistake a user makes:
#   1. an invalid value        --set train.batch_size=0
#   2. a misspelt key          RD_CONFIG=a config file with "batchsize = 4"
#   3. a missing dataset       --set data.source=shards --set data.train=<no such folder>
# Each job must end FAILED with exit code 2, within 60 s of submission (the
# time is logged), with resnet_dist's one-line message naming the key / line /
# path in the job's output, and without starting any rank (the script's
# --dry-run check caught it).  Skips (77) when not root or slurm-wlm / munge
# are missing.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/slurm_cluster.sh"
slurm_test_setup

# expect_fast_failure NAME NEEDLE [VAR=VALUE...] -- ARGS...
expect_fast_failure() {
  local name=$1 needle=$2 envs=() t0 id st out
  shift 2
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  t0=$(date +%s)
  id=$(cd "$RD_SOURCE" && env RD_BIN="$RD_PROG" "${envs[@]}" sbatch --parsable --chdir="$T" \
         slurm/cpu_smoke.sbatch --set "log.dir=$T/run_$name" "$@") ||
    { t_check "$name: sbatch accepted the job" false; return; }
  st=$(slurm_wait_end "$id" 60)
  out=$T/cpu_smoke-$id.out
  t_show "$out"
  t_log "$name: job $id ended $st after $(($(date +%s) - t0)) s"
  t_check "$name: job FAILED (got $st)" [ "$st" = FAILED ]
  t_check "$name: exit code 2:0 (got $(slurm_job_field "$id" ExitCode))" \
    [ "$(slurm_job_field "$id" ExitCode)" = 2:0 ]
  t_check "$name: the message names '$needle'" grep -qF -- "$needle" "$out"
  t_check "$name: no rank was started" bash -c "grep -q 'no rank was started' '$out' && ! grep -q 'launching:' '$out'"
}

expect_fast_failure invalid_value "train.batch_size" -- --set train.batch_size=0

printf '[train]\nbatchsize = 4\n' >"$T/typo.ini"
expect_fast_failure misspelt_key "typo.ini:2" RD_CONFIG="$T/typo.ini" --

expect_fast_failure missing_dataset "$T/no_such_shards" -- \
  --set data.source=shards --set "data.train=$T/no_such_shards"
t_done
