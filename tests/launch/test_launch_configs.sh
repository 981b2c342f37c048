#!/bin/bash
# test_launch_configs.sh - every file in configs/ loads and validates, says
# what it is, and holds the recipe it claims.
#
# For each configs/*.ini: `resnet_dist --config F --print-config` exits 0 (all
# keys known, all values in range, cross-key checks pass), the file opens
# with "; <name> - <what>" and states an expected result.  Then the recipes,
# read back from --print-config (the values the program will use):
#   cifar10_r20..r110  He et al. 2016 section 4.2: batch 128, lr 0.1, momentum
#                      0.9, weight decay 1e-4, /10 at 32k and 48k steps, 64k
#                      steps, pad-4 crop + flip, 32x32, option A shortcuts
#   imagenet_r50       ResNet-50 v1.5, 90 epochs, 256 per rank with the linear
#                      scaling rule, 5 warmup epochs, label smoothing 0.1, no
#                      wd on BN/bias, bf16, sync BN, 224 crops, 8 workers
#   imagenet_r50_mlperf  LARS (eta 0.001, trust-ratio base lr for the global
#                      batch, no lr_scale_batch), poly decay, no wd on BN/bias
#   smoke              synthetic data, ResNet-20, 32x32; --dry-run passes
source "$(dirname "$0")/harness.sh"
t_need_trainer
C=$RD_SOURCE/configs
t_scratch

n=0
for f in "$C"/*.ini; do
  name=$(basename "$f")
  n=$((n + 1))
  "$RD_PROG" --config "$f" --print-config >"$T/$name.printed" 2>"$T/err"
  rc=$?
  t_show "$T/err"
  t_check "$name validates (--print-config exit $rc)" [ "$rc" = 0 ]
  t_check "$name opens with '; $name - ...'" grep -q "^; $name - ." <(head -1 "$f")
  t_check "$name states the expected result" grep -qi "^; Expected" "$f"
done
t_check "configs/ has the 10 recipes (found $n)" [ "$n" -ge 10 ]

# value FILE SECTION KEY: a key's value as --print-config prints it
value() { awk -v s="[$2]" -v k="$3" '/^\[/ { cur = $0 } cur == s && $1 == k { print $3; exit }' "$T/$1.printed"; }
# is FILE SECTION KEY WANT: numeric lists and numbers compare by value
is() {
  local got
  got=$(value "$1" "$2" "$3")
  if awk -v a="$got" -v b="$4" 'BEGIN { n = split(a, x, ","); m = split(b, y, ",");
        if (n != m) exit 1; num = "^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$";
        for (i = 1; i <= n; i++) {
          if (x[i] == y[i]) continue;
          if (x[i] !~ num || y[i] !~ num || x[i] + 0 != y[i] + 0) exit 1 } }'; then
    return 0
  fi
  echo "    $1 [$2] $3 = '$got', want '$4'"
  return 1
}
recipe() { # FILE NAME SECTION.KEY=VALUE...
  local file=$1 what=$2 kv bad=0
  shift 2
  for kv in "$@"; do
    local sk=${kv%%=*}
    is "$file" "${sk%%.*}" "${sk#*.}" "${kv#*=}" || bad=1
  done
  t_check "$file: $what" [ $bad = 0 ]
}

for d in 20 32 44 56 110; do
  recipe "cifar10_r$d.ini" "He et al. 4.2 recipe" model.arch=resnet$d model.shortcut=A \
    model.num_classes=10 train.batch_size=128 optim.lr=0.1 optim.lr_scale_batch=0 \
    optim.momentum=0.9 optim.weight_decay=0.0001 optim.schedule=multistep \
    optim.milestones=32000,48000 optim.milestone_unit=steps optim.gamma=0.1 \
    train.max_steps=64000 data.augment=pad_crop data.pad=4 data.flip=true data.image_size=32 \
    data.mean=0.4914,0.4822,0.4465 data.std=0.2470,0.2435,0.2616
done
recipe imagenet_r50.ini "the canonical ResNet-50 recipe" model.arch=resnet50 model.variant=v1.5 \
  train.epochs=90 train.batch_size=256 optim.lr_scale_batch=256 optim.warmup_epochs=5 \
  train.label_smoothing=0.1 optim.wd_exclude_bn_bias=true train.precision=bf16 dist.sync_bn=true \
  data.image_size=224 data.workers=8 checkpoint.resume=auto
t_check "imagenet_r50.ini: cosine or step schedule" \
  grep -qE '^schedule = (cosine|step|multistep)$' "$T/imagenet_r50.ini.printed"
recipe imagenet_r18.ini "torchvision's ResNet-18 recipe" model.arch=resnet18 train.epochs=90 \
  optim.lr=0.1 optim.lr_scale_batch=256 optim.schedule=step optim.step_size=30
recipe tinyimagenet_r18.ini "Tiny ImageNet" model.arch=resnet18 model.num_classes=200 \
  data.image_size=64 data.val_crop=64
recipe smoke.ini "tiny and self-contained" model.arch=resnet20 data.source=synthetic data.image_size=32
recipe imagenet_r50_mlperf.ini "large batch, poly decay" model.arch=resnet50 optim.schedule=poly \
  train.label_smoothing=0.1 optim.wd_exclude_bn_bias=true optim.name=lars optim.lars_eta=0.001 \
  optim.lr_scale_batch=0

(cd "$T" && "$RD_PROG" --config "$C/smoke.ini" --device cpu --set "log.dir=$T/dry" --dry-run) >"$T/dry.out" 2>&1
rc=$?
t_show "$T/dry.out"
t_check "smoke.ini --dry-run exits 0 (got $rc)" [ "$rc" = 0 ]
t_done
