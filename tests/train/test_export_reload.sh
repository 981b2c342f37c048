#!/bin/bash
# Train -> export -> reload (issue 3): evaluating final.safetensors with
# --mode eval gives exactly the metrics of the training run's last evaluation.
source "$(dirname "$0")/common.sh"
ARGS=("${SMALL[@]}" --set train.batch_size=16 --set train.epochs=1 --set checkpoint.every_epochs=0)
run 1 "${ARGS[@]}" --set log.dir="$WORK/run" >"$WORK/train.log" 2>&1
a=$(sed -n 's/.*| val loss \([0-9.]*\) top1 \([0-9.]*\)% top5 \([0-9.]*\)%.*/\1 \2 \3/p' "$WORK/train.log")
run 1 "${ARGS[@]}" --mode eval --init-from "$WORK/run/final.safetensors" >"$WORK/eval.log" 2>&1
b=$(sed -n 's/.*eval: loss \([0-9.]*\) top1 \([0-9.]*\)% top5 \([0-9.]*\)%.*/\1 \2 \3/p' "$WORK/eval.log")
check "identical eval metrics after reload ('$a' vs '$b')" '[ -n "$a" ] && [ "$a" = "$b" ]'
# without --init-from, eval takes the run's newest checkpoint (checkpoint.resume=auto)
run 1 "${ARGS[@]}" --set checkpoint.every_epochs=1 --set log.dir="$WORK/ck" >"$WORK/ck.log" 2>&1
run 1 "${ARGS[@]}" --set log.dir="$WORK/ck" --mode eval >"$WORK/ckeval.log" 2>&1
c=$(sed -n 's/.*| val loss \([0-9.]*\) top1 \([0-9.]*\)% top5 \([0-9.]*\)%.*/\1 \2 \3/p' "$WORK/ck.log")
d=$(sed -n 's/.*eval: loss \([0-9.]*\) top1 \([0-9.]*\)% top5 \([0-9.]*\)%.*/\1 \2 \3/p' "$WORK/ckeval.log")
check "eval without --init-from uses the run's checkpoint ('$c' vs '$d')" \
  '[ -n "$c" ] && [ "$c" = "$d" ] && grep -q "weights: checkpoint" "$WORK/ckeval.log"'
"$BIN" "${ARGS[@]}" --mode export --output "$WORK/exp.safetensors" --init-from "$WORK/run/final.safetensors" >/dev/null 2>&1
check "export of the imported weights is bit-identical" '"$STCMP" "$WORK/exp.safetensors" "$WORK/run/final.safetensors" 0'
"$BIN" "${ARGS[@]}" --set model.arch=resnet32 --mode eval --init-from "$WORK/run/final.safetensors" >"$WORK/bad.log" 2>&1
rc=$?
check "weights of another architecture refused with the offending names (exit $rc)" \
  '[ $rc = 2 ] && grep -q "missing layer1.3.conv1.weight" "$WORK/bad.log"'
exit $FAIL
