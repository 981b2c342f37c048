#!/bin/bash
# multinode.sh - train across the hosts of a hostfile with mpirun (no Slurm).
#
#   launch/multinode.sh --hostfile FILE [options] [--] [resnet_dist arguments...]
#
#   launch/multinode.sh --hostfile hosts --iface eth0 --config configs/imagenet_r50.ini
#   launch/multinode.sh --hostfile hosts --per-host 1 --dry-run --config configs/smoke.ini
#
# Run it on the first host of the file, from a folder and with a program that
# every host sees at the same path (a shared file system), with passwordless
# ssh between the hosts.
#
# hostfile: Open MPI's format, one host per line, "name [slots=N]"; '#' starts
# a comment.  Ranks per host: --per-host N, else the slots= of the file (all
# lines must agree), else the GPUs of this host (hosts are assumed alike), else
# 1.  Rank r runs on host r / per-host (blocks of consecutive ranks), and uses
# GPU (r mod per-host) there.
#
# options (anything else, and everything after --, goes to resnet_dist):
#   --hostfile FILE  the hosts (required)
#   --per-host N     ranks per host (see above)
#   --cores N        cores per host to split between its ranks (default: this
#                    host's); each rank is bound to cores/per-host cores
#   --iface IF       network for MPI and NCCL: an interface name (eth0, ib0) or a
#                    CIDR (10.0.0.0/24; MPI only) -- needed when hosts have
#                    several networks
#   --rsh CMD        remote shell Open MPI uses to start its daemons (default ssh)
#   --bin PATH       program to run (default: $RD_BIN, else build/src/resnet_dist
#                    of this checkout, else resnet_dist on PATH)
#   --mpi-arg ARG    one more mpirun argument, repeatable
#   --dry-run        print the exact mpirun command line and exit 0
#   -h, --help       this text
# To pass --dry-run or --help to resnet_dist itself, put them after --.
#
# Defaults (a variable already set wins): Open MPI btl self,vader,tcp,
# NCCL_DEBUG=WARN, OMP_NUM_THREADS = cores per rank.  PATH, LD_LIBRARY_PATH and
# every NCCL_*, UCX_* and RD_* variable of this shell are forwarded to all
# ranks (-x).  As root, --allow-run-as-root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

hostfile="" per_host="" cores="" iface="" rsh="" bin="" dry_run=0
mpi_args=() prog_args=()
need_value() { [ "$2" -ge 2 ] || rd_usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --hostfile) need_value "$1" $#; hostfile=$2; shift 2 ;;
    --hostfile=*) hostfile=${1#--hostfile=}; shift ;;
    --per-host) need_value "$1" $#; per_host=$2; shift 2 ;;
    --per-host=*) per_host=${1#--per-host=}; shift ;;
    --cores) need_value "$1" $#; cores=$2; shift 2 ;;
    --cores=*) cores=${1#--cores=}; shift ;;
    --iface) need_value "$1" $#; iface=$2; shift 2 ;;
    --iface=*) iface=${1#--iface=}; shift ;;
    --rsh) need_value "$1" $#; rsh=$2; shift 2 ;;
    --rsh=*) rsh=${1#--rsh=}; shift ;;
    --bin) need_value "$1" $#; bin=$2; shift 2 ;;
    --bin=*) bin=${1#--bin=}; shift ;;
    --mpi-arg) need_value "$1" $#; mpi_args+=("$2"); shift 2 ;;
    --mpi-arg=*) mpi_args+=("${1#--mpi-arg=}"); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) rd_print_help "$0"; exit 0 ;;
    --) shift; prog_args+=("$@"); break ;;
    *) prog_args+=("$1"); shift ;;
  esac
done
[ -n "$hostfile" ] || rd_usage_error "--hostfile FILE is required (one host per line; see --help)"
[ -r "$hostfile" ] || rd_usage_error "--hostfile $hostfile: cannot read the file"
[ -z "$per_host" ] || rd_need_uint --per-host "$per_host"
[ -z "$cores" ] || rd_need_uint --cores "$cores"

# Hosts and their slots= values ("" where a line has none), in file order.
hosts=() slots=()
while read -r name rest || [ -n "$name" ]; do
  [ -n "$name" ] || continue
  hosts+=("$name")
  s=$(grep -o 'slots=[0-9]*' <<<"$rest" | cut -d= -f2 || true)
  slots+=("$s")
done < <(sed -e 's/#.*//' "$hostfile")
[ ${#hosts[@]} -gt 0 ] || rd_usage_error "--hostfile $hostfile: no hosts in the file"

if [ -z "$per_host" ]; then
  distinct=$(printf '%s\n' "${slots[@]}" | sort -u)
  if [ "$(wc -l <<<"$distinct")" = 1 ] && [ -n "$distinct" ]; then
    per_host=$distinct
  elif [ -n "$(tr -d '\n' <<<"$distinct")" ]; then
    rd_usage_error "--hostfile $hostfile: slots= differ between hosts; give --per-host N"
  else
    per_host=$(rd_gpu_count)
    [ "$per_host" -gt 0 ] || per_host=1
  fi
fi
[ -n "$cores" ] || cores=$(rd_core_count)
np=$(( ${#hosts[@]} * per_host ))
bin=$(rd_find_bin "$bin")

host_list=""
for h in "${hosts[@]}"; do host_list+="${host_list:+,}$h:$per_host"; done

cmd=(mpirun -np "$np" --host "$host_list")
if [ "$cores" -ge "$per_host" ]; then
  per_rank=$((cores / per_host))
  cmd+=(--map-by "ppr:$per_host:node:PE=$per_rank" --bind-to core)
else
  per_rank=1
  cmd+=(--map-by "ppr:$per_host:node" --bind-to none --oversubscribe)
fi
[ "$(id -u)" = 0 ] && cmd+=(--allow-run-as-root)
[ -n "$rsh" ] && cmd+=(--mca plm_rsh_agent "$rsh")
mapfile -t -O "${#cmd[@]}" cmd < <(rd_mca_default btl self,vader,tcp)
if [ -n "$iface" ]; then
  cmd+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
  [[ $iface == */* ]] || [ -n "${NCCL_SOCKET_IFNAME:-}" ] || cmd+=(-x "NCCL_SOCKET_IFNAME=$iface")
fi
mapfile -t -O "${#cmd[@]}" cmd < <(rd_env_default NCCL_DEBUG WARN)
mapfile -t -O "${#cmd[@]}" cmd < <(rd_env_default OMP_NUM_THREADS "$per_rank")
for v in PATH LD_LIBRARY_PATH $(compgen -e | grep -E '^(NCCL_|UCX_|RD_)' | grep -vE '^(NCCL_DEBUG|RD_FAKE_.*)$' || true); do
  [ -n "${!v+set}" ] && cmd+=(-x "$v")
done
cmd+=("${mpi_args[@]}" "$bin" "${prog_args[@]}")
rd_run_cmd "$dry_run" "multinode.sh: $np rank(s) on ${#hosts[@]} host(s), $per_host per host" \
  "${cmd[@]}"
