# shellcheck shell=bash
# harness.sh - shared pieces of the tests in tests/launch (sourced, not run).
#
# Timestamped log lines, check/skip/fail with CTest's conventions (exit 77 =
# skipped, with a "skipped: why" line), one scratch folder per test, a stack
# of cleanup commands that runs on every exit (pass, fail, ^C, timeout's
# SIGTERM), and bounded polling -- never a bare sleep as synchronization.
# Expects RD_SOURCE and RD_BUILD (CTest sets both).

set -uo pipefail

: "${RD_SOURCE:?RD_SOURCE (the source tree) must be set; run through ctest}"
: "${RD_BUILD:?RD_BUILD (the build tree) must be set; run through ctest}"
RD_PROG=$RD_BUILD/src/resnet_dist
T_START=$(date +%s.%N)
T_FAILS=0
T_CLEANUP=()
T_MAIN_PID=$BASHPID   # subshells (command substitutions) inherit the traps

t_elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t_log() { echo "[$(printf '%6ss' "$(t_elapsed)")] $*"; }

# t_check NAME CONDITION...: runs the condition; logs ok/FAIL, counts failures.
t_check() {
  local name=$1
  shift
  if "$@"; then
    t_log "ok   $name"
  else
    t_log "FAIL $name"
    T_FAILS=$((T_FAILS + 1))
  fi
}

# t_fail MESSAGE: a failed test; stops here (cleanup still runs).
t_fail() {
  t_log "FAIL $*"
  exit 1
}

# t_skip WHY: this test cannot run on this machine.
t_skip() {
  echo "skipped: $*"
  exit 77
}

# t_done: the test's exit status from the checks made.
t_done() {
  t_log "$T_FAILS failed check(s); total $(t_elapsed)s"
  [ "$T_FAILS" = 0 ] && exit 0
  exit 1
}

# t_on_exit COMMAND: run COMMAND (a string for eval) on exit, newest first.
t_on_exit() { T_CLEANUP+=("$1"); }

t_run_cleanup() {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  [ "$BASHPID" = "$T_MAIN_PID" ] || exit $rc
  for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUP[i]}"; done
  exit $rc
}
trap t_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# t_scratch: sets T to a fresh folder for this test (0755: daemons running as
# other users must reach into it), removed on exit unless RD_KEEP_SCRATCH=1.
# Call it in the test's own shell, not in $(...): cleanups registered in a
# subshell are lost with it.
t_scratch() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/rd_launch.XXXXXX") || t_fail "mktemp failed"
  chmod 755 "$T"
  if [ "${RD_KEEP_SCRATCH:-0}" = 1 ]; then
    t_on_exit "echo 'scratch kept: $T'"
  else
    t_on_exit "rm -rf '$T'"
  fi
}

# t_wait_until TIMEOUT_S WHAT COMMAND...: polls COMMAND every 0.2 s until it
# succeeds (0) or TIMEOUT_S pass (1, with a log line naming WHAT).
t_wait_until() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s) + timeout))
  while ! "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      t_log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# t_need_trainer: the resnet_dist binary must exist (it is built with the tests).
t_need_trainer() {
  [ -x "$RD_PROG" ] || t_fail "$RD_PROG is missing (build the project first)"
}

# t_show FILE [PREFIX]: a file's content, indented, for the test log.
t_show() { sed "s/^/    ${2:-|} /" "$1" 2>/dev/null || true; }
