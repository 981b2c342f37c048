#!/bin/bash
# quickstart.sh - install what is missing, build, and run the main job.
#
#   ./launch/quickstart.sh [resnet_dist arguments...]
#
# Makes a small synthetic JPEG shard set (datasets/quickstart, once) and trains
# a CIFAR-sized ResNet-20 on it through the real input pipeline
# (configs/quickstart.ini): about a minute on a 2-core CPU, with the loss
# falling on screen.  Results land in runs/quickstart (logs, metrics, plots,
# checkpoints, final.safetensors).  Extra arguments go to resnet_dist, e.g.
# --device cpu or --set train.epochs=2.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
./launch/install_deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
if [ ! -f datasets/quickstart/val-00000-of-00001.h5 ]; then
  build/data/resnet_shards synth --output datasets/quickstart --classes 10 --train 2560 \
    --val 512 --min-side 36 --max-side 64 --seed 1 --overwrite
fi
# every quickstart is a fresh run (its config has checkpoint.resume=never)
if [ -d runs/quickstart ]; then
  echo "quickstart: starting fresh (removing the previous runs/quickstart)"
  rm -rf runs/quickstart
fi
build/src/resnet_dist --config configs/quickstart.ini "$@"
if build/src/resnet_dist plot runs/quickstart >/dev/null 2>&1; then
  echo "plots: runs/quickstart/plots/"
fi
