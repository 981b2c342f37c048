#!/bin/bash
# test_launch_scripts.sh - launch/mpirun.sh, local.sh and multinode.sh build
# the right command lines, and slurm/*.sbatch carry the promised settings.
#
# mpirun.sh --dry-run with a fake GPU count (RD_FAKE_GPUS) and core count
# (RD_FAKE_CORES) prints exactly the expected mpirun line for 1, 2 and 8 GPUs,
# for no GPU (1 CPU rank), for fewer cores than ranks (oversubscribed, no
# binding), for CUDA_VISIBLE_DEVICES, --np, the user's own Open MPI / NCCL
# variables, and passes resnet_dist's arguments through verbatim (quoted so
# the printed line runs as is -- it is run, with mpi_hello as the program).
# local.sh and multinode.sh likewise; --help of each exits 0; bad options exit
# 2 with one line.  The sbatch scripts: valid bash, one task per GPU, 8 GPUs per
# node, output %x-%j.out, --signal=USR1@120, --requeue.  No Python on the
# launch path.  Runs anywhere (no root, no GPU needed).
source "$(dirname "$0")/harness.sh"
L=$RD_SOURCE/launch
HELLO=${RD_MPI_HELLO:?RD_MPI_HELLO (the mpi_hello test program) must be set}
BIN=/bin/true   # any executable: --dry-run never runs it
t_scratch
ROOT_FLAG=""
[ "$(id -u)" = 0 ] && ROOT_FLAG=" --allow-run-as-root"

# clean SCRIPT VAR=VALUE... -- ARGS...: run a launch script in a clean environment
clean() {
  local script=$1 envs=()
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env -i PATH="$PATH" HOME="${HOME:-/root}" "${envs[@]}" "$L/$script" "$@"
}

# same NAME EXPECTED SCRIPT VAR=VALUE... -- ARGS...: the printed line equals EXPECTED
same() {
  local name=$1 want=$2 got
  shift 2
  got=$(clean "$@" 2>&1)
  if [ "$got" = "$want" ]; then
    t_log "ok   $name"
  else
    t_log "FAIL $name"
    echo "    want: $want"
    echo "    got:  $got"
    T_FAILS=$((T_FAILS + 1))
  fi
}

BASE="--mca btl self,vader --mca btl_vader_single_copy_mechanism none -x NCCL_DEBUG=WARN"
for g in 1 2 8; do
  pe=$((32 / g))
  same "mpirun.sh, $g GPU(s), 32 cores" \
    "mpirun -np $g --map-by ppr:$g:node:PE=$pe --bind-to core$ROOT_FLAG $BASE -x OMP_NUM_THREADS=$pe $BIN --config configs/imagenet_r50.ini" \
    mpirun.sh RD_FAKE_GPUS=$g RD_FAKE_CORES=32 -- --dry-run --bin $BIN --config configs/imagenet_r50.ini
done
same "mpirun.sh, no GPU: one CPU rank on all cores" \
  "mpirun -np 1 --map-by ppr:1:node:PE=2 --bind-to core$ROOT_FLAG $BASE -x OMP_NUM_THREADS=2 $BIN" \
  mpirun.sh RD_FAKE_GPUS=0 RD_FAKE_CORES=2 -- --dry-run --bin $BIN
same "mpirun.sh, 8 GPUs but 4 cores: oversubscribed, unbound" \
  "mpirun -np 8 --map-by slot --bind-to none --oversubscribe$ROOT_FLAG $BASE -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY=passive $BIN" \
  mpirun.sh RD_FAKE_GPUS=8 RD_FAKE_CORES=4 -- --dry-run --bin $BIN
same "mpirun.sh counts CUDA_VISIBLE_DEVICES" \
  "mpirun -np 3 --map-by ppr:3:node:PE=4 --bind-to core$ROOT_FLAG $BASE -x OMP_NUM_THREADS=4 $BIN" \
  mpirun.sh CUDA_VISIBLE_DEVICES=2,5,7 RD_FAKE_CORES=12 -- --dry-run --bin $BIN
same "mpirun.sh --np wins over the GPU count" \
  "mpirun -np 4 --map-by ppr:4:node:PE=8 --bind-to core$ROOT_FLAG $BASE -x OMP_NUM_THREADS=8 $BIN" \
  mpirun.sh RD_FAKE_GPUS=8 RD_FAKE_CORES=32 -- --np 4 --dry-run --bin $BIN
same "mpirun.sh keeps the user's OMPI_MCA_btl, NCCL_DEBUG, OMP_NUM_THREADS" \
  "mpirun -np 2 --map-by ppr:2:node:PE=16 --bind-to core$ROOT_FLAG --mca btl_vader_single_copy_mechanism none -x NCCL_DEBUG -x OMP_NUM_THREADS $BIN" \
  mpirun.sh RD_FAKE_GPUS=2 RD_FAKE_CORES=32 OMPI_MCA_btl=self,tcp NCCL_DEBUG=INFO OMP_NUM_THREADS=3 -- --dry-run --bin $BIN
same "mpirun.sh passes arguments through, quoted; after -- even its own options" \
  "mpirun -np 1 --map-by ppr:1:node:PE=2 --bind-to core$ROOT_FLAG $BASE -x OMP_NUM_THREADS=2 --report-bindings $BIN --config 'my dir/x.ini' --set 'log.dir=it'\\''s' --dry-run --help" \
  mpirun.sh RD_FAKE_GPUS=0 RD_FAKE_CORES=2 -- --dry-run --bin $BIN --mpi-arg --report-bindings \
  --config "my dir/x.ini" --set "log.dir=it's" -- --dry-run --help

# the printed line is the command that runs: run it (mpi_hello as the program)
line=$(clean mpirun.sh -- --np 2 --bin "$HELLO" --dry-run)
eval "$line" >"$T/hello.out" 2>&1
rc=$?
t_show "$T/hello.out"
n_ok=$(grep -c "sum 3 expect 3 ok" "$T/hello.out")
t_check "the printed mpirun line runs 2 ranks here (exit $rc, $n_ok ranks ok)" [ "$rc/$n_ok" = 0/2 ]

# local.sh
same "local.sh --gpu 3" \
  "env CUDA_VISIBLE_DEVICES=3 OMP_NUM_THREADS=16 $BIN --config c.ini" \
  local.sh RD_FAKE_CORES=16 -- --gpu 3 --dry-run --bin $BIN --config c.ini
same "local.sh --cpu --threads 2" \
  "env OMP_NUM_THREADS=2 $BIN --device cpu --set train.max_steps=5" \
  local.sh -- --cpu --threads 2 --dry-run --bin $BIN --set train.max_steps=5
same "local.sh inside an allocation: launcher variables removed" \
  "env -u SLURM_NTASKS -u SLURM_PROCID OMP_NUM_THREADS=4 $BIN" \
  local.sh RD_FAKE_CORES=4 SLURM_PROCID=0 SLURM_NTASKS=8 -- --dry-run --bin $BIN

# multinode.sh
printf 'n1 slots=8  # first\n\n# spare: n3\nn2 slots=8\n' >"$T/hosts8"
same "multinode.sh, 2 hosts x 8 slots, --iface ib0" \
  "mpirun -np 16 --host n1:8,n2:8 --map-by ppr:8:node:PE=8 --bind-to core$ROOT_FLAG --mca btl self,vader,tcp --mca btl_tcp_if_include ib0 --mca oob_tcp_if_include ib0 -x NCCL_SOCKET_IFNAME=ib0 -x NCCL_DEBUG=WARN -x OMP_NUM_THREADS=8 -x PATH $BIN --config c.ini" \
  multinode.sh RD_FAKE_CORES=64 -- --hostfile "$T/hosts8" --iface ib0 --dry-run --bin $BIN --config c.ini
printf 'a\nb\nc\n' >"$T/hosts_plain"
same "multinode.sh, no slots: GPUs of this host per host; --rsh; NCCL_* forwarded" \
  "mpirun -np 12 --host a:4,b:4,c:4 --map-by ppr:4:node:PE=4 --bind-to core$ROOT_FLAG --mca plm_rsh_agent /usr/bin/rsh --mca btl self,vader,tcp -x NCCL_DEBUG=WARN -x OMP_NUM_THREADS=4 -x PATH -x NCCL_IB_HCA $BIN" \
  multinode.sh RD_FAKE_GPUS=4 RD_FAKE_CORES=16 NCCL_IB_HCA=mlx5 -- --hostfile "$T/hosts_plain" --rsh /usr/bin/rsh --dry-run --bin $BIN
printf 'a slots=2\nb slots=4\n' >"$T/hosts_mixed"
clean multinode.sh -- --hostfile "$T/hosts_mixed" --dry-run --bin $BIN >"$T/mixed.out" 2>&1
rc=$?
t_check "multinode.sh refuses differing slots= (exit 2, one line)" [ "$rc/$(wc -l <"$T/mixed.out")" = 2/1 ]

# --help and bad options
for s in local.sh mpirun.sh multinode.sh; do
  clean $s -- --help >"$T/help" 2>&1
  rc=$?
  t_check "$s --help exits 0 (got $rc)" [ "$rc" = 0 ]
  t_check "$s --help documents --dry-run and --bin" grep -q -- "--dry-run.*print" "$T/help"
done
for bad in "mpirun.sh --np zero" "mpirun.sh --bin $T/nonexistent" "local.sh --gpu x" "multinode.sh --hostfile $T/none"; do
  read -r -a words <<<"$bad"
  clean "${words[0]}" -- "${words[@]:1}" --dry-run >"$T/bad.out" 2>&1
  rc=$?
  t_show "$T/bad.out"
  t_check "'$bad': exit 2 with one line (got $rc)" [ "$rc/$(wc -l <"$T/bad.out")" = 2/1 ]
done

# sbatch scripts
S=$RD_SOURCE/slurm
for f in "$S"/*.sbatch "$S"/run_job.sh; do
  t_check "$(basename "$f"): valid bash" bash -n "$f"
done
sb() { grep -q -- "^#SBATCH $1\$" "$S/imagenet_r50.sbatch"; }
t_check "imagenet_r50.sbatch: 8 tasks per node" sb "--ntasks-per-node=8"
t_check "imagenet_r50.sbatch: 8 GPUs per node" sb "--gpus-per-node=8"
t_check "imagenet_r50.sbatch: output per job" sb "--output=%x-%j.out"
t_check "imagenet_r50.sbatch: USR1 120 s before the limit" sb "--signal=USR1@120"
t_check "imagenet_r50.sbatch: requeueable" sb "--requeue"
t_check "cpu_smoke.sbatch: requeueable" grep -q -- "^#SBATCH --requeue$" "$S/cpu_smoke.sbatch"
t_check "cpu_smoke.sbatch: output per job" grep -q -- "^#SBATCH --output=%x-%j.out$" "$S/cpu_smoke.sbatch"
no_python() { local f; for f in "$@"; do grep -v "^[[:space:]]*#" "$f" | grep -qi python && { echo "    python in $f"; return 1; }; done; return 0; }
t_check "no Python on the launch path (code, not comments)" \
  no_python "$L/local.sh" "$L/mpirun.sh" "$L/multinode.sh" "$L/lib.sh" "$S"/*
t_done
