#!/bin/bash
# test_smoke_train.sh - the single-process way of running, for real:
# launch/local.sh (no mpirun, no MPI runtime) trains configs/smoke.ini on the
# CPU to the end.  Checks: exit 0, the log says 1 rank, the loss of the last
# logged step is below the first one, final.safetensors and metrics are
# written.  Then the quick-experiment overrides: --set train.max_steps=3 stops
# after 3 steps, and resnet_dist's own --dry-run (passed after --) validates
# and exits 0 without training.  The wall time of the smoke run is logged
# (goal: under a minute on 2 cores; not asserted).
source "$(dirname "$0")/harness.sh"
t_need_trainer
t_scratch
LOCAL=$RD_SOURCE/launch/local.sh
SMOKE=$RD_SOURCE/configs/smoke.ini

t0=$(date +%s.%N)
"$LOCAL" --cpu --bin "$RD_PROG" -- --config "$SMOKE" --set "log.dir=$T/run" >"$T/out" 2>&1
rc=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
t_show "$T/out"
t_log "smoke.ini trained in $secs s on $(nproc) core(s) (goal: under 60 s)"
t_check "exit status 0 (got $rc)" [ "$rc" = 0 ]
t_check "one rank, no launcher" grep -q "on 1 rank " "$T/out"
t_check "final.safetensors written" [ -s "$T/run/final.safetensors" ]
losses=$(grep -o '"type":"step".*"loss":[0-9.e+-]*' "$T/run/metrics.jsonl" 2>/dev/null | grep -o '"loss":[0-9.e+-]*' | cut -d: -f2)
first=$(head -1 <<<"$losses")
last=$(tail -1 <<<"$losses")
t_log "training loss: first logged $first, last logged $last"
t_check "the loss fell" awk -v a="${first:-0}" -v b="${last:-0}" 'BEGIN { exit !(a > 0 && b < a) }'

"$LOCAL" --cpu --bin "$RD_PROG" -- --config "$SMOKE" --set "log.dir=$T/short" \
  --set train.max_steps=3 --set log.every_steps=1 >"$T/short.out" 2>&1
rc=$?
t_check "--set train.max_steps=3: exit 0 (got $rc)" [ "$rc" = 0 ]
t_check "--set train.max_steps=3: stopped after 3 steps" grep -q "^done: 3 steps" "$T/short.out"

"$LOCAL" --cpu --bin "$RD_PROG" -- --config "$SMOKE" --set "log.dir=$T/dry" --dry-run >"$T/dry.out" 2>&1
rc=$?
t_show "$T/dry.out"
t_check "--dry-run after --: exit 0 (got $rc)" [ "$rc" = 0 ]
t_check "--dry-run reports and does not train" \
  bash -c "grep -q 'dry run OK' '$T/dry.out' && [ ! -e '$T/dry/final.safetensors' ]"
t_done
