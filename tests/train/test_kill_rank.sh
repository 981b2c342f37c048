#!/bin/bash
# No hangs (issue 5): SIGKILL one of 3 ranks mid-training; every rank must be
# gone within dist.timeout_s (+ margin), mpirun exits non-zero, and the log
# names the lost rank.
source "$(dirname "$0")/common.sh"
TIMEOUT_S=5
"${MPIRUN[@]}" -np 3 "$BIN" "${SMALL[@]}" --set train.batch_size=4 --set train.epochs=1000 \
    --set data.synthetic_val=0 --set checkpoint.every_epochs=0 --set dist.timeout_s=$TIMEOUT_S \
    --set log.dir="$WORK/kill" >"$WORK/kill.log" 2>&1 &
MPIRUN_PID=$!
# wait (bounded) until training has taken a few steps
for _ in $(seq 1 600); do
  [ "$(grep -c '"type":"step"' "$WORK/kill/metrics.jsonl" 2>/dev/null)" -ge 3 ] && break
  kill -0 $MPIRUN_PID 2>/dev/null || break
  sleep 0.1
done
check "training started" '[ "$(grep -c "\"type\":\"step\"" "$WORK/kill/metrics.jsonl" 2>/dev/null)" -ge 3 ]'
VICTIM=""; VICTIM_RANK=""
for p in $(pgrep -P $MPIRUN_PID); do
  r=$(tr '\0' '\n' </proc/$p/environ 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
  if [ "$r" = 1 ]; then VICTIM=$p; VICTIM_RANK=$r; fi
done
check "found rank 1's process" '[ -n "$VICTIM" ]'
T0=$(date +%s.%N)
kill -KILL "$VICTIM"
rc=0
for _ in $(seq 1 $(( (TIMEOUT_S + 30) * 10 ))); do kill -0 $MPIRUN_PID 2>/dev/null || break; sleep 0.1; done
if kill -0 $MPIRUN_PID 2>/dev/null; then kill -KILL $MPIRUN_PID; rc=999; else wait $MPIRUN_PID; rc=$?; fi
T1=$(date +%s.%N)
secs=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')
check "job ended within ${TIMEOUT_S}s + 30s (took ${secs}s)" '[ "$rc" != 999 ]'
check "exit status non-zero ($rc)" '[ "$rc" != 0 ]'
check "no rank left running" '! pgrep -f "log.dir=$WORK/kill" >/dev/null'
check "log names the lost rank $VICTIM_RANK" 'grep -qiE "rank $VICTIM_RANK\b.*(exited|killed|signal|lost|gone)|process rank $VICTIM_RANK " "$WORK/kill.log"'
grep -iE "rank|timeout|signal" "$WORK/kill.log" | tail -6 | sed 's/^/     | /'
exit $FAIL
