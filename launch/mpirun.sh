#!/bin/bash
# mpirun.sh - train on one node: one rank per GPU, each bound to cores of its own.
#
#   launch/mpirun.sh [options] [--] [resnet_dist arguments...]
#
#   launch/mpirun.sh --config configs/imagenet_r50.ini
#   launch/mpirun.sh --np 2 --config configs/smoke.ini --device cpu
#   launch/mpirun.sh --dry-run --config configs/imagenet_r50.ini   # print, do not run
#
# options (anything else, and everything after --, goes to resnet_dist):
#   --np N         ranks (default: the GPUs present; 1 on a machine without GPUs)
#   --bin PATH     program to run (default: $RD_BIN, else build/src/resnet_dist
#                  of this checkout, else resnet_dist on PATH)
#   --mpi-arg ARG  one more mpirun argument, repeatable (--mpi-arg --report-bindings)
#   --dry-run      print the exact mpirun command line and exit 0
#   -h, --help     this text
# To pass --dry-run or --help to resnet_dist itself, put them after --.
#
# GPUs: entries of CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`.  Rank i
# uses GPU i: resnet_dist picks the GPU from its local rank.  Cores: each rank
# is bound to cores/N consecutive cores (--map-by ppr:N:node:PE=cores/N
# --bind-to core), so ranks fill the first socket first, as GPUs 0..N/2-1 sit
# on the first socket of usual 2-socket servers.  With fewer cores than ranks,
# nothing is bound and the node is oversubscribed.
# Defaults (an environment variable that is already set wins): Open MPI btl
# self,vader (one node: shared memory) with single-copy off (works in
# containers without ptrace rights), NCCL_DEBUG=WARN, OMP_NUM_THREADS = cores
# per rank.  As root, --allow-run-as-root.
# Tests and planning: RD_FAKE_GPUS=N and RD_FAKE_CORES=N replace the detected
# counts.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

np="" bin="" dry_run=0
mpi_args=() prog_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --np) [ $# -ge 2 ] || rd_usage_error "--np needs a value"; rd_need_uint --np "$2"; np=$2; shift 2 ;;
    --np=*) np=${1#--np=}; rd_need_uint --np "$np"; shift ;;
    --bin) [ $# -ge 2 ] || rd_usage_error "--bin needs a value"; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --mpi-arg) [ $# -ge 2 ] || rd_usage_error "--mpi-arg needs a value"; mpi_args+=("$2"); shift 2 ;;
    --mpi-arg=*) mpi_args+=("${1#--mpi-arg=}"); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) rd_print_help "$0"; exit 0 ;;
    --) shift; prog_args+=("$@"); break ;;
    *) prog_args+=("$1"); shift ;;
  esac
done

gpus=$(rd_gpu_count)
cores=$(rd_core_count)
if [ -z "$np" ]; then
  np=$gpus
  [ "$np" -gt 0 ] || np=1
fi
bin=$(rd_find_bin "$bin")

cmd=(mpirun -np "$np")
if [ "$cores" -ge "$np" ]; then
  per_rank=$((cores / np))
  cmd+=(--map-by "ppr:$np:node:PE=$per_rank" --bind-to core)
else
  per_rank=1
  cmd+=(--map-by slot --bind-to none --oversubscribe)
fi
oversubscribed=$((cores < np))
[ "$(id -u)" = 0 ] && cmd+=(--allow-run-as-root)
mapfile -t -O "${#cmd[@]}" cmd < <(rd_mca_default btl self,vader)
mapfile -t -O "${#cmd[@]}" cmd < <(rd_mca_default btl_vader_single_copy_mechanism none)
mapfile -t -O "${#cmd[@]}" cmd < <(rd_env_default NCCL_DEBUG WARN)
mapfile -t -O "${#cmd[@]}" cmd < <(rd_env_default OMP_NUM_THREADS "$per_rank")
# more ranks than cores: idle OpenMP threads must sleep, not spin on a core
# another rank needs
[ "$oversubscribed" = 1 ] &&
  mapfile -t -O "${#cmd[@]}" cmd < <(rd_env_default OMP_WAIT_POLICY passive)
cmd+=("${mpi_args[@]}" "$bin" "${prog_args[@]}")
rd_run_cmd "$dry_run" "mpirun.sh: $np rank(s), $gpus GPU(s), $cores core(s)" "${cmd[@]}"
