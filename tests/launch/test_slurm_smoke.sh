#!/bin/bash
# test_slurm_smoke.sh - the Slurm way of running, for real: a private one-node
# Slurm cluster (tests/launch/slurm_cluster.sh), the project's own
# slurm/cpu_smoke.sbatch submitted with sbatch from the checkout, two ranks
# started by srun training configs/smoke.ini on the CPU (shortened with --set
# to keep the test fast).  Checks: the job ends COMPLETED with exit code 0, its
# output (<name>-<id>.out) shows the --dry-run check, training on 2 ranks, step
# lines and the "done" line, and the run directory holds final.safetensors and
# metrics.  Then slurm/imagenet_r50.sbatch itself runs the same way, its GPU
# request overridden on the sbatch command line (--gpus-per-node=0, 2 tasks,
# smoke.ini via RD_CONFIG, 2 steps): COMPLETED with final.safetensors.
# Skips (77) when not root or slurm-wlm / munge are missing.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/slurm_cluster.sh"
slurm_test_setup

# smoke.ini, shorter: 128 images, 2 epochs of 4 steps (2 ranks x 16)
SHORT=(--set data.synthetic_train=128 --set data.synthetic_val=32 --set train.epochs=2
       --set train.batch_size=16 --set log.every_steps=1)
t0=$(date +%s)
id=$(cd "$RD_SOURCE" && RD_BIN=$RD_PROG slurm_submit --chdir="$T" slurm/cpu_smoke.sbatch \
       "${SHORT[@]}" --set "log.dir=$T/run") || t_fail "sbatch refused slurm/cpu_smoke.sbatch"
t_log "submitted job $id"
st=$(slurm_wait_end "$id" 240)
out=$T/cpu_smoke-$id.out
t_show "$out"
t_log "job $id ended $st after $(($(date +%s) - t0)) s"
has() { grep -qE -- "$1" "$out"; }
t_check "job COMPLETED (got $st)" [ "$st" = COMPLETED ]
t_check "exit code 0:0 (got $(slurm_job_field "$id" ExitCode))" [ "$(slurm_job_field "$id" ExitCode)" = 0:0 ]
t_check "output is <name>-<id>.out in the working folder" [ -s "$out" ]
t_check "the --dry-run check ran first" has "dry run OK"
t_check "srun started 2 ranks" has "training resnet20 on 2 ranks"
t_check "step lines in the output" has "step [0-9]+/[0-9]+ loss [0-9.]+"
t_check "the run finished" has "^done: 8 steps"
t_check "final.safetensors written" [ -s "$T/run/final.safetensors" ]
t_check "metrics written" [ -s "$T/run/metrics.jsonl" ]

# The production script itself, with its GPU request overridden on the
# command line (sbatch options win over #SBATCH lines) for this CPU cluster.
id=$(cd "$RD_SOURCE" && RD_BIN=$RD_PROG RD_CONFIG=$RD_SOURCE/configs/smoke.ini \
       slurm_submit --chdir="$T" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
       --gpus-per-node=0 --time=00:10:00 slurm/imagenet_r50.sbatch --device cpu \
       --set train.max_steps=2 --set "log.dir=$T/r50") || t_fail "sbatch refused slurm/imagenet_r50.sbatch"
st=$(slurm_wait_end "$id" 240)
t_show "$T/imagenet_r50-$id.out"
t_check "imagenet_r50.sbatch (CPU overrides) COMPLETED (got $st)" [ "$st" = COMPLETED ]
t_check "imagenet_r50.sbatch trained on 2 ranks" grep -q "training resnet20 on 2 ranks" "$T/imagenet_r50-$id.out"
t_check "imagenet_r50.sbatch wrote final.safetensors" [ -s "$T/r50/final.safetensors" ]
t_done
