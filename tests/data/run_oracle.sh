#!/bin/bash
# run_oracle.sh SCRIPT ARGS... - runs a Python oracle of tests/data with the
# Python that has torch / torchvision / PIL / h5py ($RD_PYTHON), in a fresh
# work folder; skips (77) with the reason when that Python lacks them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${RD_PYTHON:-/usr/bin/python3}
script=$1
shift
if ! "$py" -c 'import torch, torchvision, PIL, h5py, numpy' 2>/dev/null; then
  echo "skipped: $py lacks torch/torchvision/PIL/h5py/numpy (apt-get install python3-torchvision python3-h5py)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rd_oracle.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$py" "$here/$script" "$@" "$work"
