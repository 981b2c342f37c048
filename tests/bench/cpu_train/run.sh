#!/bin/bash
# run.sh - CPU training throughput, ours vs PyTorch, in one run (issue 3).
#
#   tests/bench/cpu_train/run.sh [BUILD_DIR] [ROUNDS]
#
# ResNet-50 (batch 16, 224x224) and ResNet-20 (batch 128, 32x32), 2 threads
# each, fp32, synthetic batch kept in memory, SGD with momentum: ours via
# `resnet_dist --mode bench --json`, PyTorch via torch_cpu_train.py (Debian's
# python3-torch, /usr/bin/python3).  Rounds alternate ours / PyTorch so both
# see the same machine load; the table shows medians of the rounds and the
# ratio ours / PyTorch (> 1: we are faster).  A benchmark: it prints figures
# and never fails on time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${2:-3}
PY=${RD_PYTHON:-/usr/bin/python3}
BIN=$BUILD/src/resnet_dist
THREADS=2
export OMP_WAIT_POLICY=passive

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | head -1; }

printf '%-10s %-6s %-8s %14s %14s %8s\n' model batch image "ours img/s" "torch img/s" ratio
for spec in "resnet50 16 224 1 4" "resnet20 128 32 2 8"; do
  set -- $spec
  arch=$1 batch=$2 side=$3 warmup=$4 steps=$5
  classes=$([ "$arch" = resnet20 ] && echo 10 || echo 1000)
  ours=() theirs=()
  for _ in $(seq 1 "$ROUNDS"); do
    ours+=("$("$BIN" --mode bench --json --device cpu --set model.arch="$arch" \
      --set model.num_classes="$classes" --set data.image_size="$side" \
      --set train.batch_size="$batch" --set train.threads=$THREADS \
      --set bench.warmup_steps="$warmup" --set bench.steps="$steps" 2>/dev/null | field images_per_s)")
    theirs+=("$("$PY" "$HERE/torch_cpu_train.py" "$arch" "$batch" "$side" $THREADS "$warmup" "$steps" | field images_per_s)")
  done
  o=$(printf '%s\n' "${ours[@]}" | median)
  t=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-10s %-6s %-8s %14.1f %14.1f %8.2f\n' "$arch" "$batch" "${side}x$side" "$o" "$t" \
    "$(awk -v a="$o" -v b="$t" 'BEGIN { print a / b }')"
  echo "  rounds: ours ${ours[*]} | torch ${theirs[*]}"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1-3 /proc/loadavg); torch $("$PY" -c 'import torch; print(torch.__version__)')"
