#!/bin/bash
# Distributed evaluation (issue 5): 3 ranks, 100 validation samples (not
# divisible by 3): every sample is counted exactly once, and the accuracy is
# the same as one rank's evaluation of the same model.
source "$(dirname "$0")/common.sh"
ARGS=("${SMALL[@]}" --set train.epochs=1 --set train.max_steps=3 --set data.synthetic_val=100
      --set checkpoint.every_epochs=0)
run 3 "${ARGS[@]}" --set train.batch_size=8 --set log.dir="$WORK/np3" >"$WORK/np3.log" 2>&1
check "3 ranks evaluated 100 images" 'grep -q "(100 images)" "$WORK/np3.log"'
run 1 --device cpu "${ARGS[@]}" --mode eval --set train.batch_size=8 \
    --init-from "$WORK/np3/final.safetensors" >"$WORK/np1.log" 2>&1
check "1 rank evaluates the same model on 100 images" 'grep -q "over 100 images" "$WORK/np1.log"'
a=$(sed -n 's/.*final evaluation: val loss \([0-9.]*\) top1 \([0-9.]*\)%.*/\1 \2/p' "$WORK/np3.log")
b=$(sed -n 's/.*eval: loss \([0-9.]*\) top1 \([0-9.]*\)%.*/\1 \2/p' "$WORK/np1.log")
check "same loss and top-1 on 3 ranks and 1 ('$a' vs '$b')" '[ -n "$a" ] && [ "$a" = "$b" ]'
exit $FAIL
