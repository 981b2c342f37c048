#!/bin/bash
# A stop request (SIGUSR1) that lands on the last step of an epoch (issue 5 /
# issue 7 requeue flow): with one step per epoch every step is an epoch's last.
# The run must finish that epoch's bookkeeping (record, checkpoint) before it
# exits 124, write one checkpoint, and resume to the same final parameters as
# an uninterrupted run, with no empty epoch record (train loss 0) in between.
source "$(dirname "$0")/common.sh"
ARGS=("${SMALL[@]}" --set data.synthetic_train=16 --set data.synthetic_val=0
      --set train.batch_size=16 --set train.epochs=40 --set checkpoint.keep=2)
run 1 "${ARGS[@]}" --set log.dir="$WORK/full" >"$WORK/full.log" 2>&1
check "uninterrupted run" '[ -s "$WORK/full/final.safetensors" ]'
"$BIN" "${ARGS[@]}" --set log.dir="$WORK/stop" >"$WORK/stop1.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ "$(grep -c '"type":"epoch"' "$WORK/stop/metrics.jsonl" 2>/dev/null)" -ge 5 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.05
done
kill -USR1 $pid 2>/dev/null
wait $pid
rc=$?
check "stopped with exit status 124 (got $rc)" '[ $rc = 124 ]'
check "one checkpoint for the stop" '[ "$(grep -c "checkpoint .* written" "$WORK/stop1.log")" -ge 1 ] && grep -q "stop requested (signal 10): checkpoint written" "$WORK/stop1.log"'
run 1 "${ARGS[@]}" --set log.dir="$WORK/stop" >"$WORK/stop2.log" 2>&1
check "resumed at the start of an epoch" 'grep -q "resuming from .*, step 0 (global step" "$WORK/stop2.log"'
check "final parameters equal the uninterrupted run" \
  '"$STCMP" "$WORK/stop/final.safetensors" "$WORK/full/final.safetensors" 0'
check "no empty epoch record" '! grep "\"type\":\"epoch\"" "$WORK/stop/metrics.jsonl" | grep -q "\"train_loss\":0,"'
exit $FAIL
