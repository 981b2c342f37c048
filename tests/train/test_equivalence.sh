#!/bin/bash
# Data-parallel equivalence (issue 5): ResNet-20 trained for 20 steps on
# np = 1 (batch 8), np = 2 (batch 4 each) and np = 4 (batch 2 each) sees the
# same global batches (DESIGN.md decision 8) with sync BN over all ranks, so
# losses and final parameters must agree up to fp32 summation order.
# Tolerance: per-step loss relative 1e-4; final parameters
# max|a-b| / (1 + max|b|) <= 1e-4 per tensor.
source "$(dirname "$0")/common.sh"
for np in 1 2 4; do
  run "$np" "${SMALL[@]}" --set train.batch_size=$((8 / np)) --set train.epochs=1 \
      --set train.max_steps=20 --set data.synthetic_val=0 --set checkpoint.every_epochs=0 \
      --set log.dir="$WORK/np$np" >"$WORK/np$np.log" 2>&1
  check "np=$np trains (exit $?)" '[ -s "$WORK/np$np/final.safetensors" ]' || tail -5 "$WORK/np$np.log"
done
for np in 2 4; do
  check "np=$np losses equal np=1 (20 steps)" 'same_losses "$WORK/np$np" "$WORK/np1" 1e-4'
  check "np=$np final parameters equal np=1" \
    '"$STCMP" "$WORK/np$np/final.safetensors" "$WORK/np1/final.safetensors" 1e-4'
done
check "losses fell (first vs last step, np=1)" \
  "losses '$WORK/np1' | awk 'NR==1{a=\$2} END{exit !(\$2 < a)}'"
exit $FAIL
