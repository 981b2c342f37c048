#!/bin/bash
# Checkpoints (issue 5): a corrupt newest checkpoint is skipped by
# checkpoint.resume=auto, which says so and resumes from the previous one;
# an explicit checkpoint.resume=PATH to a corrupt file is refused (exit 2).
source "$(dirname "$0")/common.sh"
ARGS=("${SMALL[@]}" --set data.synthetic_train=64 --set data.synthetic_val=0
      --set train.batch_size=16 --set checkpoint.keep=5 --set log.dir="$WORK/run")
run 1 "${ARGS[@]}" --set train.epochs=3 >"$WORK/a.log" 2>&1
n=$(ls "$WORK/run/checkpoints/"*.h5 2>/dev/null | wc -l)
check "3 epochs left 3 checkpoints ($n)" '[ "$n" = 3 ]'
newest=$(ls "$WORK/run/checkpoints/"*.h5 | sort | tail -1)
previous=$(ls "$WORK/run/checkpoints/"*.h5 | sort | tail -2 | head -1)
truncate -s 2000 "$newest"
run 1 "${ARGS[@]}" --set train.epochs=4 >"$WORK/b.log" 2>&1
check "resume=auto warns about $(basename "$newest")" 'grep -q "$(basename "$newest")" "$WORK/b.log"'
check "resume=auto resumes from $(basename "$previous")" 'grep -q "resuming from .*$(basename "$previous")" "$WORK/b.log"'
check "and finishes" '[ -s "$WORK/run/final.safetensors" ] && grep -q "^done" "$WORK/b.log"'
bad=$(ls "$WORK/run/checkpoints/"*.h5 | sort | tail -1); truncate -s 1000 "$bad"
run 1 "${ARGS[@]}" --set train.epochs=5 --set checkpoint.resume="$bad" >"$WORK/c.log" 2>&1
rc=$?
check "resume=PATH to a corrupt file: exit 2 (got $rc)" '[ $rc = 2 ]'
sed 's/^/     | /' "$WORK/c.log" | tail -2
exit $FAIL
