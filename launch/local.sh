#!/bin/bash
# local.sh - train as one process on one GPU (or the CPU), without mpirun.
#
#   launch/local.sh [options] [--] [resnet_dist arguments...]
#
#   launch/local.sh --config configs/cifar10_r20.ini
#   launch/local.sh --gpu 3 --config configs/imagenet_r50.ini --set train.max_steps=100
#   launch/local.sh --cpu --config configs/smoke.ini
#
# options (anything else, and everything after --, goes to resnet_dist):
#   --gpu I        use GPU I only (sets CUDA_VISIBLE_DEVICES=I)
#   --cpu          the CPU backend (adds --device cpu)
#   --threads N    CPU threads (OMP_NUM_THREADS; default: the cores available)
#   --bin PATH     program to run (default: $RD_BIN, else build/src/resnet_dist
#                  of this checkout, else resnet_dist on PATH)
#   --dry-run      print the exact command line and exit 0
#   -h, --help     this text
# To pass --dry-run or --help to resnet_dist itself, put them after --.
#
# The launcher variables of mpirun, PMIx and srun are removed from the
# program's environment, so a shell inside a Slurm allocation or an mpirun
# still runs exactly one rank of its own; resnet_dist then never initialises
# MPI (no MPI runtime needed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

gpu="" cpu=0 threads="" bin="" dry_run=0
prog_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --gpu) [ $# -ge 2 ] || rd_usage_error "--gpu needs a value"; gpu=$2; shift 2 ;;
    --gpu=*) gpu=${1#--gpu=}; shift ;;
    --cpu) cpu=1; shift ;;
    --threads) [ $# -ge 2 ] || rd_usage_error "--threads needs a value"; threads=$2; shift 2 ;;
    --threads=*) threads=${1#--threads=}; shift ;;
    --bin) [ $# -ge 2 ] || rd_usage_error "--bin needs a value"; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) rd_print_help "$0"; exit 0 ;;
    --) shift; prog_args+=("$@"); break ;;
    *) prog_args+=("$1"); shift ;;
  esac
done
[ -z "$gpu" ] || [[ $gpu =~ ^[0-9]+$ ]] || rd_usage_error "--gpu expects a GPU index, got '$gpu'"
[ -z "$gpu" ] || [ "$cpu" = 0 ] || rd_usage_error "--gpu and --cpu exclude each other"
if [ -n "$threads" ]; then
  rd_need_uint --threads "$threads"
elif [ -z "${OMP_NUM_THREADS:-}" ]; then
  threads=$(rd_core_count)
fi
bin=$(rd_find_bin "$bin")

# Variables by which resnet_dist would think a launcher started it.
launcher_vars=$(compgen -e | grep -E '^(OMPI_COMM_WORLD_|PMIX_|PMI_|SLURM_PROCID$|SLURM_NTASKS$|SLURM_NPROCS$|SLURM_STEP_ID$|SLURM_STEPID$|SLURM_LOCALID$)' || true)

cmd=(env)
for v in $launcher_vars; do cmd+=(-u "$v"); done
[ -n "$gpu" ] && cmd+=("CUDA_VISIBLE_DEVICES=$gpu")
[ -n "$threads" ] && cmd+=("OMP_NUM_THREADS=$threads")
cmd+=("$bin")
[ "$cpu" = 1 ] && cmd+=(--device cpu)
cmd+=("${prog_args[@]}")

if [ "$dry_run" = 1 ]; then
  rd_print_cmd "${cmd[@]}"
  exit 0
fi
exec "${cmd[@]}"
