#!/bin/bash
# Timeline (issue 8): a 2-rank CPU run with log.trace=FILE writes one Chrome
# trace (valid JSON, {"traceEvents": [...]}) with complete events of both
# ranks (pid 0 and 1): every traced step holds its data wait, forward,
# backward and optimizer, the gradient buckets' all-reduces and the input
# pipeline's decode spans have events.
# An unwritable log.trace is a one-line user error (exit 2) before training.
source "$(dirname "$0")/common.sh"
T=$WORK/trace.json
run 2 "${SMALL[@]}" --set train.epochs=2 --set log.every_steps=1 --set log.progress=lines \
    --set dist.bucket_mb=0.05 --set log.trace="$T" --set log.trace_start=1 \
    --set log.trace_steps=2 --set log.dir="$WORK/run" >"$WORK/out" 2>&1
rc=$?
show "$WORK/out" 8
check "2-rank run with log.trace exits 0 (got $rc)" '[ $rc = 0 ]'
check "rank 0 says where the trace went" 'grep -q "trace of steps 1..2 (2 ranks) written to $T" "$WORK/out"'
"$PY" "$CHECK" trace "$T" 2 >"$WORK/c.out" 2>&1
check "the trace is valid Chrome-trace JSON with events of ranks 0 and 1" '[ $? = 0 ]'
show "$WORK/c.out" 10
check "steps 1 and 2 traced, not 0 or 3" \
  'grep -q "\"step 1\"" "$T" && grep -q "\"step 2\"" "$T" && ! grep -q "\"step 0\"" "$T" && ! grep -q "\"step 3\"" "$T"'

run 1 "${SMALL[@]}" --set train.epochs=1 --set log.trace="$WORK/no/such/dir/t.json" \
    --set log.dir="$WORK/run2" >"$WORK/bad.out" 2>&1
rc=$?
show "$WORK/bad.out" 3
check "unwritable log.trace: exit 2 (got $rc), one line naming log.trace" \
  '[ $rc = 2 ] && grep -q "log.trace: cannot write the trace file" "$WORK/bad.out"'
exit $FAIL
