#!/bin/bash
# test_watchdog.sh MPIRUN PROG MODE NP - runs test_watchdog_prog under mpirun
# and checks that no rank hangs and every rank says why it ended.
#   sleep    the others time out: exit != 0, "timeout: waited T s in all-reduce
#            of step 3 ... (dist.timeout_s=2)" on every surviving rank
#   kill     exit != 0, Open MPI names the killed rank, the survivors name the
#            operation they were waiting in
#   fatal    exit != 0, the failing rank's message, no rank goes on
#   preempt  exit 124, every rank stopped after the same step (3)
#   config   exit 2, the differing key and both values
# The whole job is bounded by `timeout -s KILL`; reaching the bound means a hang.
set -u
MPIRUN=$1 PROG=$2 MODE=$3 NP=$4
TIMEOUT_S=2
BOUND_S=60
out=$(mktemp)
trap 'rm -f "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
SECONDS=0
timeout -s KILL "$BOUND_S" "$MPIRUN" --oversubscribe --bind-to none --mca btl self,vader,tcp \
  --mca btl_vader_single_copy_mechanism none -np "$NP" "$PROG" "$MODE" "$TIMEOUT_S" \
  >"$out" 2>&1
status=$?
fail=0
expect() { # expect REGEX [MIN_COUNT]: at least MIN_COUNT output lines match
  local n
  n=$(grep -cE -- "$1" "$out")
  if [ "$n" -lt "${2:-1}" ]; then
    echo "FAILED: expected ${2:-1} line(s) matching /$1/, found $n"
    fail=1
  fi
}
if [ "$SECONDS" -ge "$BOUND_S" ]; then
  echo "FAILED: the job hung and was killed after ${BOUND_S} s"
  fail=1
fi
last=$((NP - 1))
case "$MODE" in
  sleep)
    [ "$status" -ne 0 ] || { echo "FAILED: exit status 0"; fail=1; }
    expect "^\[rank [0-9]+ [^]]+\] timeout: waited [0-9.]+ s in all-reduce of step 3; a peer rank is gone or stuck \(dist\.timeout_s=$TIMEOUT_S\)$"
    expect "^\[rank $last [^]]+\] SIGTERM received; exiting$"
    ;;
  kill)
    [ "$status" -ne 0 ] || { echo "FAILED: exit status 0"; fail=1; }
    expect "process rank $last .*(signal 9|Killed)"
    expect "^\[rank [0-9]+ [^]]+\] SIGTERM received while waiting [0-9.]+ s in all-reduce of step 3$" 1
    ;;
  fatal)
    [ "$status" -ne 0 ] || { echo "FAILED: exit status 0"; fail=1; }
    expect "^\[rank $last [^]]+\] test_watchdog_prog\.c:[0-9]+: injected failure at step 3$"
    if grep -q "finished all steps" "$out"; then echo "FAILED: a rank went on"; fail=1; fi
    ;;
  preempt)
    [ "$status" -eq 124 ] || { echo "FAILED: exit status $status, want 124"; fail=1; }
    expect "stopped after step 3 \(signal" "$NP"
    if grep -qE "stopped after step [^3]|finished all steps" "$out"; then
      echo "FAILED: a rank stopped elsewhere"; fail=1
    fi
    ;;
  config)
    [ "$status" -eq 2 ] || { echo "FAILED: exit status $status, want 2"; fail=1; }
    expect "^\[rank $last [^]]+\] error: rank $last runs a different configuration than rank 0: dist\.bucket_mb = (50|5e\+01) on rank $last, 25 on rank 0; "
    ;;
  *) echo "unknown mode $MODE"; exit 2 ;;
esac
if [ "$fail" -ne 0 ]; then
  echo "---- output (exit status $status) ----"
  cat "$out"
  exit 1
fi
echo "ok: mode $MODE on $NP ranks, exit status $status"
