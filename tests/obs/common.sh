# common.sh - shared helpers of the observability tests (sourced).
# Needs RD_BUILD, RD_SOURCE and RD_PYTHON (CTest sets them).  Each test gets a
# private work dir, removed on exit.
set -u
BIN=${RD_BUILD:?}/src/resnet_dist
CHECK=${RD_SOURCE:?}/tests/obs/obs_check.py
PY=${RD_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader,tcp -x OMPI_MCA_btl_vader_single_copy_mechanism)
WORK=$(mktemp -d /tmp/rd_obs_test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAIL=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; FAIL=1; fi; }

if ! "$PY" -c 'import json, xml.etree.ElementTree, zlib' 2>/dev/null; then
  echo "skipped: no Python with json/xml/zlib at $PY (set RESNET_PYTHON)"
  exit 77
fi

# A small CIFAR-sized run on synthetic data: 64 samples, batch 16 -> 4 steps
# per epoch on one rank, 2 on two.
SMALL=(--device cpu --set model.arch=resnet20 --set model.num_classes=10
       --set data.source=synthetic --set data.image_size=32 --set data.val_resize=32
       --set data.val_crop=32 --set data.synthetic_train=64 --set data.synthetic_val=32
       --set data.workers=1 --set data.prefetch=2 --set train.batch_size=16
       --set train.threads=1 --set optim.lr=0.05 --set optim.schedule=cosine
       --set checkpoint.every_epochs=1)

# run NP ARGS...: resnet_dist on NP ranks (1 = no mpirun)
run() {
  local np=$1; shift
  if [ "$np" = 1 ]; then "$BIN" "$@"; else "${MPIRUN[@]}" -np "$np" "$BIN" "$@"; fi
}

# show FILE: the output of a run, indented, for the test log
show() { sed 's/^/    | /' "$1" | tr '\r' '\n' | tail -n "${2:-40}"; }
