#!/bin/bash
# test_cuda_train.sh - end-to-end training on the GPU (issue 6, "done when").
#
# 1. CIFAR ResNet-20 on the synthetic set (1024 images of 10 learnable
#    classes, 4 epochs, batch 32) reaches the CPU's validation accuracy:
#    final val top-1 of --device cuda (fp32-strict, fp32, bf16, fp16) is at
#    least the CPU's minus 5 points (256 validation images: one image is 0.4
#    points; synthetic classes are learnt to near 100% on both).
# 2. Two ranks sharing the one GPU (dist.backend=mpi, host-staged gradients
#    and sync BN) train like one rank with the doubled batch: fp32-strict,
#    20 steps, per-step loss within 1e-3 relative and final parameters within
#    1e-3 (max|a-b| / (1 + max|b|) per tensor).  Not bitwise: the two runs
#    see different conv shapes, so cuDNN may pick different algorithms.
# 3. The memory plan on the GPU: --mode summary shows the cuDNN workspace and
#    that ResNet-50 at batch 64 fits; batch 65536 is refused (exit 2, one
#    line) naming the largest batch that fits, which summary confirms fits.
# Skips (77) without a GPU.
#   test_cuda_train.sh COUNT_EXE   (RD_BUILD from CTest)
set -u
n=$("$1" 2>/dev/null || echo 0)
if [ "$n" = 0 ]; then echo "skipped: no GPU (backend_cuda_device_count() = 0)"; exit 77; fi
source "${RD_SOURCE:?}/tests/train/common.sh"

CIFAR=(--set model.arch=resnet20 --set model.num_classes=10 --set data.source=synthetic
       --set data.image_size=32 --set data.val_resize=32 --set data.val_crop=32
       --set data.synthetic_train=1024 --set data.synthetic_val=256 --set data.workers=2
       --set data.prefetch=2 --set optim.lr=0.05 --set optim.schedule=cosine
       --set train.batch_size=32 --set train.epochs=4 --set train.eval_every_epochs=4
       --set checkpoint.every_epochs=0 --set log.every_steps=8 --set log.progress=lines)

# val_top1 of the last epoch record of DIR/metrics.jsonl
val_top1() {
  sed -n 's/.*"type":"epoch".*"val_top1":\([-0-9.e+]*\).*/\1/p' "$1/metrics.jsonl" | tail -1
}

"$BIN" "${CIFAR[@]}" --device cpu --set log.dir="$WORK/cpu" >"$WORK/cpu.log" 2>&1
check "cpu run (exit $?)" '[ -n "$(val_top1 "$WORK/cpu")" ]' || tail -5 "$WORK/cpu.log"
cpu_acc=$(val_top1 "$WORK/cpu")
echo "  cpu val top-1 ${cpu_acc:-none}"
for prec in fp32-strict fp32 bf16 fp16; do
  "$BIN" "${CIFAR[@]}" --device cuda --set train.precision=$prec --set log.dir="$WORK/$prec" \
    >"$WORK/$prec.log" 2>&1
  acc=$(val_top1 "$WORK/$prec")
  echo "  cuda $prec val top-1 ${acc:-none}"
  check "cuda $prec reaches the cpu accuracy (-0.05)" \
    "awk -v a='${acc:-nan}' -v c='${cpu_acc:-nan}' 'BEGIN { exit !(a + 0 >= c - 0.05) }'" ||
    tail -5 "$WORK/$prec.log"
done

EQ=("${CIFAR[@]}" --device cuda --set train.precision=fp32-strict --set train.max_steps=20
    --set train.epochs=1 --set data.synthetic_val=0 --set dist.backend=mpi)
run 1 "${EQ[@]}" --set train.batch_size=16 --set log.dir="$WORK/np1" >"$WORK/np1.log" 2>&1
check "np=1 on the GPU trains (exit $?)" '[ -s "$WORK/np1/final.safetensors" ]' ||
  tail -5 "$WORK/np1.log"
run 2 "${EQ[@]}" --set train.batch_size=8 --set log.dir="$WORK/np2" >"$WORK/np2.log" 2>&1
check "np=2 sharing the GPU trains (exit $?)" '[ -s "$WORK/np2/final.safetensors" ]' ||
  tail -5 "$WORK/np2.log"
check "np=2 took rank 0's conv algorithms (train.conv_algos=rank0)" \
  'grep -q "every rank uses rank 0.s conv algorithms" "$WORK/np2.log"'
check "np=2 losses equal np=1 (20 steps, 1e-3)" 'same_losses "$WORK/np2" "$WORK/np1" 1e-3'
check "np=2 final parameters equal np=1 (1e-3)" \
  '"$STCMP" "$WORK/np2/final.safetensors" "$WORK/np1/final.safetensors" 1e-3'

R50=(--device cuda --set model.arch=resnet50 --set data.source=synthetic
     --set data.synthetic_train=65536 --set data.synthetic_val=0 --set log.dir="$WORK/r50")
"$BIN" --mode summary "${R50[@]}" --set train.batch_size=64 >"$WORK/sum64" 2>&1
check "summary on the GPU shows the cuDNN workspace" 'grep -q "workspace (cuDNN)" "$WORK/sum64"'
check "summary: ResNet-50 batch 64 fits the GPU" 'grep -q "^Batch 64 fits" "$WORK/sum64"' ||
  tail -5 "$WORK/sum64"
"$BIN" "${R50[@]}" --set train.batch_size=65536 >"$WORK/big.out" 2>"$WORK/big.err"
rc=$?
check "batch 65536 refused on the GPU (exit $rc, one line)" \
  '[ $rc = 2 ] && [ "$(wc -l <"$WORK/big.err")" = 1 ]' || cat "$WORK/big.err"
fit=$(sed -n 's/.*the largest batch that fits is \([0-9]*\).*/\1/p' "$WORK/big.err")
echo "  largest ResNet-50 batch that fits: ${fit:-none}"
"$BIN" --mode summary "${R50[@]}" --set train.batch_size="${fit:-1}" >"$WORK/sumfit" 2>&1
check "summary: the named batch ${fit:-none} fits" 'grep -q "^Batch ${fit:-none} fits" "$WORK/sumfit"'
exit $FAIL
