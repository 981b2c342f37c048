# common.sh - shared helpers of the end-to-end training tests (sourced).
# Needs RD_BUILD (CTest sets it).  Each test gets a private work dir, removed
# on exit.
set -u
BIN=${RD_BUILD:?}/src/resnet_dist
STCMP=${RD_BUILD}/tests/train/st_compare
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# more ranks than cores: idle OpenMP threads must sleep, not spin
export OMP_WAIT_POLICY=passive
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader,tcp -x OMPI_MCA_btl_vader_single_copy_mechanism -x OMP_WAIT_POLICY)
WORK=$(mktemp -d /tmp/rd_train_test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAIL=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; FAIL=1; fi; }

# A small, fast, deterministic CIFAR-sized run on synthetic data.
SMALL=(--device cpu --set model.arch=resnet20 --set model.num_classes=10
       --set data.source=synthetic --set data.image_size=32 --set data.val_resize=32
       --set data.val_crop=32 --set data.synthetic_train=256 --set data.synthetic_val=100
       --set data.workers=1 --set data.prefetch=2 --set optim.lr=0.05
       --set optim.schedule=step --set optim.step_size=1 --set optim.gamma=0.5
       --set train.threads=1 --set log.every_steps=1 --set log.progress=lines)

# run NP ARGS...: resnet_dist on NP ranks (1 = no mpirun)
run() {
  local np=$1; shift
  if [ "$np" = 1 ]; then "$BIN" "$@"; else "${MPIRUN[@]}" -np "$np" "$BIN" "$@"; fi
}

# losses DIR: "global_step loss" of every step record of DIR/metrics.jsonl
losses() {
  sed -n 's/.*"type":"step".*"global_step":\([0-9]*\),"loss":\([-0-9.e+]*\).*/\1 \2/p' "$1/metrics.jsonl"
}

# same_losses A B TOL: every step's loss agrees within TOL (relative)
same_losses() {
  paste -d' ' <(losses "$1") <(losses "$2") | awk -v tol="$3" '
    { n++; d = $2 - $4; if (d < 0) d = -d; s = $4 < 0 ? -$4 : $4;
      if ($1 != $3 || d > tol * (s > 1 ? s : 1)) { bad++; print "  step " $1 ": " $2 " vs " $4 } }
    END { print "  " n " steps compared"; exit (n == 0 || bad > 0) }'
}
