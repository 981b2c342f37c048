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
# a batch whose activations cannot fit (ResNet-50 at 224: ~86 MiB per image in
# fp32, so 65536 images need ~5.5 TiB) is refused before anything is
# allocated, naming the largest batch that fits this machine
BIG=(--device cpu --set model.arch=resnet50 --set data.source=synthetic
     --set data.synthetic_train=65536 --set data.synthetic_val=0 --set train.batch_size=65536
     --set log.dir="$T/big")
expect_usage_error batch-too-big "train.batch_size=65536 does not fit" "${BIG[@]}"
fit=$(sed -n 's/.*the largest batch that fits is \([0-9]*\).*/\1/p' "$T/err")
check "batch-too-big: names a largest batch (${fit:-none})" '[ -n "$fit" ] && [ "$fit" -lt 65536 ]'
if [ -n "$fit" ] && [ "$fit" -gt 10 ]; then
  # 10% below the named batch (other tests running beside this one use memory)
  b=$((fit - fit / 10))
  "$BIN" --mode summary "${BIG[@]}" --set train.batch_size="$b" >"$T/sum" 2>/dev/null
  check "summary at batch $b (named $fit): it fits" 'grep -q "^Batch $b fits" "$T/sum"'
  "$BIN" --mode summary "${BIG[@]}" >"$T/sum" 2>/dev/null
  check "summary at 65536: does not fit" 'grep -q "^Batch 65536 does NOT fit" "$T/sum"'
fi

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
