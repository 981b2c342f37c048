#!/bin/bash
# Overfitting (issue 3): ResNet-20 memorises 64 synthetic samples (no
# augmentation) to 100% training accuracy, with SGD and with LARS (whose
# update math tests/model/oracle_torch.py checks against PyTorch; this shows
# it trains through the real loop).
source "$(dirname "$0")/common.sh"
run 1 "${SMALL[@]}" --set data.synthetic_train=64 --set data.synthetic_val=0 \
    --set data.augment=none --set data.flip=false --set train.batch_size=64 \
    --set train.epochs=150 --set optim.schedule=constant --set optim.lr=0.1 \
    --set optim.weight_decay=0 --set checkpoint.every_epochs=0 --set train.threads=2 \
    --set log.every_steps=50 --set log.dir="$WORK/fit" >"$WORK/fit.log" 2>&1
best=$(sed -n 's/.*"type":"epoch".*"train_top1":\([0-9.e+-]*\).*/\1/p' "$WORK/fit/metrics.jsonl" | sort -g | tail -1)
last=$(sed -n 's/.*"type":"epoch".*"train_top1":\([0-9.e+-]*\).*/\1/p' "$WORK/fit/metrics.jsonl" | tail -1)
check "training accuracy reached 100% (best $best, last $last)" 'awk -v b="$best" "BEGIN{exit !(b == 1)}"'

run 1 "${SMALL[@]}" --set data.synthetic_train=64 --set data.synthetic_val=0 \
    --set data.augment=none --set data.flip=false --set train.batch_size=64 \
    --set train.epochs=45 --set optim.schedule=constant --set optim.name=lars --set optim.lr=8 \
    --set optim.weight_decay=0 --set checkpoint.every_epochs=0 --set train.threads=2 \
    --set log.every_steps=50 --set log.dir="$WORK/lars" >"$WORK/lars.log" 2>&1
best=$(sed -n 's/.*"type":"epoch".*"train_top1":\([0-9.e+-]*\).*/\1/p' "$WORK/lars/metrics.jsonl" | sort -g | tail -1)
check "LARS: training accuracy reached 100% (best $best)" 'awk -v b="$best" "BEGIN{exit !(b == 1)}"'
exit $FAIL
