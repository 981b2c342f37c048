#!/bin/bash
# quickstart.sh - install what is missing, build, and run the main job.
#
#   ./launch/quickstart.sh [resnet_dist arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
./launch/install_deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
exec build/src/resnet_dist --print-config "$@"
