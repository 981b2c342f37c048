#!/bin/bash
# scaling.sh - weak-scaling report of resnet_dist --mode bench across rank counts.
#
#   tests/bench/scaling.sh [--np "1 2 4"] [--repeat N] [--bin PATH] [--out DIR]
#                          [--mpirun "mpirun --oversubscribe ..."] -- RESNET_DIST_ARGS...
#
# Runs `resnet_dist --mode bench --json RESNET_DIST_ARGS` once per rank count
# (np 1 without mpirun), N times each, and prints one row per rank count:
# global batch, images/s (median of the N runs), per-rank images/s, speedup
# over the smallest np, efficiency (speedup / (np / smallest np)), step time
# p50 and the exposed-communication and sync-BN milliseconds of that median
# run.  The batch per rank is fixed (train.batch_size), as in DDP: this is
# weak scaling.  The JSON of every run stays in --out (default: a temporary
# folder that is removed).  Example (CPU, the 2-core CI machine):
#
#   tests/bench/scaling.sh --np "1 2" --repeat 3 -- --device cpu \
#       --config configs/smoke.ini --set bench.steps=10
#
# A benchmark program, not a test: it asserts nothing about speed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NPS="1 2 4"
REPEAT=1
BIN=${RD_BUILD:-$HERE/../../build}/src/resnet_dist
OUT=""
KEEP=1
MPIRUN="mpirun --oversubscribe --bind-to none"
while [ $# -gt 0 ]; do
  case "$1" in
    --np) NPS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --mpirun) MPIRUN=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$BIN" ]; then
  echo "scaling.sh: no resnet_dist at $BIN (build first, or pass --bin)" >&2
  exit 2
fi
case "$REPEAT" in ''|*[!0-9]*|0) echo "scaling.sh: --repeat needs a positive integer" >&2; exit 2 ;; esac
if [ -z "$OUT" ]; then
  KEEP=0
  OUT=$(mktemp -d /tmp/rd_scaling.XXXXXX)
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"

# field FILE KEY: first occurrence of "KEY":number in the JSON line of FILE
# (top-level fields come before the per-rank ones in --mode bench --json).
field() { grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2; }

base_np=""; base_ips=""
printf "%4s %7s %12s %10s %8s %10s %9s %9s %9s\n" np batch "images/s" "per rank" speedup \
  efficiency "p50 ms" "comm ms" "syncBN ms"
for np in $NPS; do
  runs=()
  for k in $(seq 1 "$REPEAT"); do
    f="$OUT/np$np.run$k.json"
    if [ "$np" = 1 ]; then
      "$BIN" --mode bench --json "$@" >"$f" 2>"$f.err"
    else
      $MPIRUN -np "$np" "$BIN" --mode bench --json "$@" >"$f" 2>"$f.err"
    fi
    rc=$?
    if [ $rc != 0 ] || [ -z "$(field "$f" images_per_s)" ]; then
      echo "scaling.sh: np $np run $k failed (exit $rc); see $f.err:" >&2
      tail -5 "$f.err" >&2
      exit 1
    fi
    runs+=("$(field "$f" images_per_s) $f")
  done
  # the median run by images/s
  med=$(printf "%s\n" "${runs[@]}" | sort -g | sed -n "$(( (REPEAT + 1) / 2 ))p")
  ips=${med%% *}; f=${med#* }
  [ -z "$base_np" ] && { base_np=$np; base_ips=$ips; }
  awk -v np="$np" -v gb="$(field "$f" global_batch)" -v ips="$ips" -v bnp="$base_np" \
      -v bips="$base_ips" -v p50="$(field "$f" p50)" -v comm="$(field "$f" comm_exposed)" \
      -v bn="$(field "$f" sync_bn)" 'BEGIN {
        s = ips / bips; e = s / (np / bnp);
        printf "%4d %7d %12.1f %10.1f %8.2f %9.0f%% %9.1f %9.2f %9.2f\n",
               np, gb, ips, ips / np, s, 100 * e, p50, comm, bn }'
done
echo "(median of $REPEAT run(s) per np$([ $KEEP = 1 ] && echo "; JSON of every run in $OUT"))"
