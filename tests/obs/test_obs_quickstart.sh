#!/bin/bash
# A quickstart-like run shows progress and leaves metrics files and plots
# (issue 8): log lines every log.every_steps and the epoch summary; metrics.jsonl
# records of the documented schema (docs/METRICS.md), metrics.csv, run.json,
# config.ini (which reads back as the same configuration); `resnet_dist plot`
# renders well-formed SVG and PNG; a resumed run appends (a second header) and
# still plots; log.progress=bar redraws one line with '\r'; plot of a folder
# without metrics exits 2 with one line.
source "$(dirname "$0")/common.sh"
R=$WORK/run
run 1 "${SMALL[@]}" --set train.epochs=2 --set log.every_steps=2 --set log.progress=lines \
    --set log.dir="$R" >"$WORK/out" 2>&1
rc=$?
show "$WORK/out" 12
check "training exits 0 (got $rc)" '[ $rc = 0 ]'
check "a log line every 2 steps with loss, top1, lr, img/s, data wait, eta" \
  'grep -Eq "^epoch 1/2 step 2/4 loss [0-9.]+ top1 [0-9.]+% lr [0-9.e-]+ img/s [0-9.]+ data [0-9.]+ms eta [0-9:]+$" "$WORK/out"'
check "epoch summary with val loss/top1/top5 and image count" \
  'grep -Eq "^epoch 2 done: train loss .* \| val loss [0-9.]+ top1 [0-9.]+% top5 [0-9.]+% \(32 images\) \| .* img/s, 0 corrupt" "$WORK/out"'
check "no carriage returns in lines mode" '! grep -q $'"'"'\r'"'"' "$WORK/out"'
"$PY" "$CHECK" metrics "$R" >"$WORK/m.out" 2>&1
check "metrics files follow the documented schema" '[ $? = 0 ]'
show "$WORK/m.out" 5
step_records=$(grep -c '"type":"step"' "$R/metrics.jsonl")
check "one step record per logged window (4, got $step_records)" '[ "$step_records" = 4 ]'
"$BIN" --config "$R/config.ini" --print-config >"$WORK/reprint.ini" 2>&1
check "config.ini reads back as the same configuration" \
  'diff <(grep -v "^;" "$R/config.ini") "$WORK/reprint.ini" >/dev/null'

"$BIN" plot "$R" >"$WORK/plot.out" 2>&1
rc=$?
show "$WORK/plot.out" 3
check "resnet_dist plot exits 0 (got $rc)" '[ $rc = 0 ]'
"$PY" "$CHECK" plots "$R" >"$WORK/p.out" 2>&1
check "plots are well-formed SVG and PNG" '[ $? = 0 ]'
show "$WORK/p.out" 5

# resume: one more epoch appends to the same files, behind a second header
run 1 "${SMALL[@]}" --set train.epochs=3 --set log.every_steps=2 --set log.progress=lines \
    --set log.dir="$R" >"$WORK/out2" 2>&1
check "resumed run exits 0" '[ $? = 0 ] && grep -q "resuming from" "$WORK/out2"'
check "two header records after the resume" '[ "$(grep -c "\"type\":\"header\"" "$R/metrics.jsonl")" = 2 ]'
"$PY" "$CHECK" metrics "$R" >"$WORK/m2.out" 2>&1
check "appended metrics still follow the schema" '[ $? = 0 ]'
"$BIN" plot "$R" >/dev/null 2>&1 && "$PY" "$CHECK" plots "$R" >"$WORK/p2.out" 2>&1
check "the resumed run plots" '[ $? = 0 ]'

# bar mode (forced; a terminal would get it with log.progress=auto)
run 1 "${SMALL[@]}" --set train.epochs=1 --set log.every_steps=100 --set log.progress=bar \
    --set checkpoint.every_epochs=0 --set log.dir="$WORK/bar" >"$WORK/bar.out" 2>&1
check "bar mode exits 0" '[ $? = 0 ]'
check "bar mode redraws one line with \\r (step 4/4 drawn, with ETA)" \
  'grep -q $'"'"'\r'"'"'"epoch 1/1 \[####################\] 4/4 loss .* img/s lr .* data .*ETA 0:00:00" "$WORK/bar.out"'
check "bar mode prints no per-step log lines" '! grep -q "^epoch 1/1 step" "$WORK/bar.out"'
check "the epoch summary starts on its own line" 'grep -q "^epoch 1 done: " "$WORK/bar.out"'

"$BIN" plot "$WORK/nowhere" >"$WORK/bad.out" 2>&1
rc=$?
check "plot of a folder without metrics: exit 2 (got $rc), one line naming metrics.jsonl" \
  '[ $rc = 2 ] && [ "$(wc -l <"$WORK/bad.out")" = 1 ] && grep -q "nowhere/metrics.jsonl" "$WORK/bad.out"'
"$BIN" --version >"$WORK/version.out" 2>&1
check "--version names MPI, HDF5, libjpeg-turbo and BLAS versions" \
  'grep -q "MPI: *Open MPI" "$WORK/version.out" && grep -Eq "HDF5: *[0-9]+\.[0-9]+" "$WORK/version.out" && grep -Eq "libjpeg-turbo: *[0-9]" "$WORK/version.out" && grep -q "BLAS:" "$WORK/version.out"'
exit $FAIL
