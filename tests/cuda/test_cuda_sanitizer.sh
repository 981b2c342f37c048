#!/bin/bash
# test_cuda_sanitizer.sh - compute-sanitizer on the CUDA backend.
#
#   test_cuda_sanitizer.sh memcheck|racecheck COUNT_EXE OPS_TEST_EXE RESNET_DIST SOURCE_DIR
#
# memcheck: the op tests (--quick: bf16 and fp32-strict, small shapes, cuDNN
# heuristics instead of measuring) and a 3-step CIFAR ResNet-20 training run
# on the GPU (configs/smoke.ini, bf16) under `compute-sanitizer --tool
# memcheck`; any reported error fails the test.  racecheck: the op tests under
# `--tool racecheck` (shared-memory hazards in the BN / reduction kernels).
# CUDA API error codes returned to the libraries (cuDNN probes) are not
# counted (--report-api-errors no); memory errors are.
# Skips (exit 77) without a GPU or without compute-sanitizer.
set -u
tool=$1 count_exe=$2 ops=$3 bin=$4 src=$5

n=$("$count_exe" 2>/dev/null || echo 0)
if [ "$n" = 0 ]; then echo "skipped: no GPU (backend_cuda_device_count() = 0)"; exit 77; fi
san=$(command -v compute-sanitizer || true)
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/nvidia/*/compute-sanitizer; do
  [ -z "$san" ] && [ -x "$d/compute-sanitizer" ] && san=$d/compute-sanitizer
done
if [ -z "$san" ]; then echo "skipped: compute-sanitizer not found (CUDA toolkit bin/)"; exit 77; fi

fail=0
sanitize() {
  echo "== compute-sanitizer --tool $tool $*"
  "$san" --tool "$tool" --error-exitcode 99 --report-api-errors no --print-limit 20 "$@"
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL (exit $rc): $*"; fail=1; else echo "ok: $*"; fi
}

sanitize "$ops" --quick
if [ "$tool" = memcheck ]; then
  work=$(mktemp -d /tmp/rd_sanitizer.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  sanitize "$bin" --config "$src/configs/smoke.ini" --device cuda --set train.precision=bf16 \
    --set train.max_steps=3 --set train.epochs=1 --set data.synthetic_val=32 \
    --set checkpoint.every_epochs=0 --set log.every_steps=1 --set log.dir="$work/run"
fi
exit $fail
