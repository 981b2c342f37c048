#!/bin/bash
# --mode bench on the CPU (issue 8): the human report has throughput, step-time
# percentiles and the per-phase breakdown (per rank, and mean/max over ranks
# on 2 ranks); --json is one parseable line with the documented fields (phases
# add up to the step time); bench.pipeline=true feeds the real pipeline;
# tests/bench/scaling.sh prints its np table from --json runs.  Nothing here
# asserts a speed.
source "$(dirname "$0")/common.sh"
B=(--mode bench --set bench.warmup_steps=1 --set bench.steps=3)

run 1 "${SMALL[@]}" "${B[@]}" >"$WORK/h1.out" 2>&1
rc=$?
show "$WORK/h1.out" 10
check "np 1 bench exits 0 (got $rc)" '[ $rc = 0 ]'
check "throughput and step-time percentiles" \
  'grep -Eq "^throughput: [0-9.]+ images/s" "$WORK/h1.out" && grep -Eq "p50 [0-9.]+, p95 [0-9.]+, p99 [0-9.]+" "$WORK/h1.out"'
check "breakdown columns" \
  'grep -Eq "rank +data +h2d +forward +backward +comm +sync_bn +optim +other +step +img/s" "$WORK/h1.out"'
check "a row for rank 0" 'grep -Eq "^  0 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+" "$WORK/h1.out"'

run 1 "${SMALL[@]}" "${B[@]}" --json --set bench.pipeline=true >"$WORK/j1.out" 2>"$WORK/j1.err"
check "np 1 --json (real pipeline) exits 0 and prints only JSON on stdout" \
  '[ $? = 0 ] && [ "$(wc -l <"$WORK/j1.out")" = 1 ]'
"$PY" "$CHECK" bench "$WORK/j1.out" 1 >"$WORK/c1.out" 2>&1
check "np 1 --json has the documented fields" '[ $? = 0 ]'
show "$WORK/c1.out" 5
check "np 1 --json says the input was the pipeline" 'grep -q "\"input\":\"pipeline\"" "$WORK/j1.out"'

run 2 "${SMALL[@]}" "${B[@]}" >"$WORK/h2.out" 2>&1
check "np 2 bench exits 0" '[ $? = 0 ]'
show "$WORK/h2.out" 8
check "np 2: rows for ranks 0 and 1, mean and max" \
  'grep -Eq "^  1 +[0-9.]+" "$WORK/h2.out" && grep -Eq "^  mean +[0-9.]+" "$WORK/h2.out" && grep -Eq "^  max +[0-9.]+" "$WORK/h2.out"'

"$RD_SOURCE/tests/bench/scaling.sh" --bin "$BIN" --np "1 2" --out "$WORK/scaling" \
  --mpirun "${MPIRUN[*]}" -- "${SMALL[@]}" "${B[@]}" >"$WORK/s.out" 2>&1
rc=$?
show "$WORK/s.out" 6
check "scaling.sh exits 0 (got $rc) with rows for np 1 and 2" \
  '[ $rc = 0 ] && grep -Eq "^ +1 +16 +[0-9.]+ .* 1.00 +100%" "$WORK/s.out" && grep -Eq "^ +2 +32 +[0-9.]+" "$WORK/s.out"'
"$PY" "$CHECK" bench "$WORK/scaling/np2.run1.json" 2 >"$WORK/c2.out" 2>&1
check "np 2 --json has the documented fields, two rank entries" '[ $? = 0 ]'
show "$WORK/c2.out" 5
exit $FAIL
