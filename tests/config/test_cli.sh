#!/bin/bash
# test_cli.sh - the resnet_dist binary's user-facing behaviour on bad input:
# one line on stderr naming the problem, nothing else, exit status 2; plus
# --help listing every key and --print-config loading back identically.
set -u
BIN=${RD_BUILD:?}/src/resnet_dist
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

# expect_usage_error NAME NEEDLE ARGS...: exit 2, exactly one stderr line containing NEEDLE
expect_usage_error() {
  local name=$1 needle=$2; shift 2
  "$BIN" "$@" >"$T/out" 2>"$T/err"; local rc=$?
  check "$name: exit 2 (got $rc)" '[ $rc = 2 ]'
  check "$name: one stderr line" '[ "$(wc -l <"$T/err")" = 1 ]'
  check "$name: no stdout" '[ ! -s "$T/out" ]'
  check "$name: message names '$needle'" 'grep -qF -- "$needle" "$T/err"'
  sed 's/^/     | /' "$T/err"
}

expect_usage_error missing-config "cannot open config file 'nonexistent.ini'" --config nonexistent.ini
printf '[optim]\nmomentum = 0.9\nlr = abc\n' > "$T/lr.ini"
expect_usage_error bad-lr "lr.ini:3: [optim] lr = 'abc': expected a number" --config "$T/lr.ini"
printf '[train]\nlr = abc\n' > "$T/trainlr.ini"
expect_usage_error train-lr "did you mean optim.lr?" --config "$T/trainlr.ini"
printf '[trian]\nepochs = 1\n' > "$T/trian.ini"
expect_usage_error bad-section "trian.ini:1: unknown section [trian]; did you mean [train]?" --config "$T/trian.ini"
expect_usage_error bad-set "did you mean train.batch_size?" --set train.batchsize=4
expect_usage_error bad-flag "did you mean --print-config?" --print-confg
expect_usage_error bad-mode "--mode fly" --mode fly

"$BIN" --help >"$T/help"; rc=$?
check "--help exits 0" '[ $rc = 0 ]'
for k in arch num_classes batch_size precision bucket_mb resume every_steps label_smoothing; do
  check "--help lists $k" 'grep -q "^    $k " "$T/help"'
done

"$BIN" --set model.arch=resnet20 --set optim.lr=0.3 --set data.val=/x --print-config >"$T/a.ini"
check "--print-config exits 0" '[ -s "$T/a.ini" ]'
"$BIN" --config "$T/a.ini" --print-config >"$T/b.ini"
check "--print-config round trip" 'cmp -s "$T/a.ini" "$T/b.ini"'
check "--print-config has the override" 'grep -q "^arch = resnet20$" "$T/b.ini"'
exit $fail
