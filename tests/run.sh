#!/bin/bash
# tests/run.sh - the one test command: install what is missing, build, run
# every test with CTest and print CTest's summary.
#
#   ./tests/run.sh [ctest arguments...]     e.g. ./tests/run.sh -L config
#
# Env: BUILD_DIR (default build), RD_CMAKE_ARGS (extra cmake arguments),
#      RD_TEST_JOBS (parallel tests, default: number of cores).
# Tests that cannot run on this machine (no GPU) report "Skipped", never pass.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}

./launch/install_deps.sh --test

jobs=$(nproc)
# shellcheck disable=SC2086
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${RD_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$jobs"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$BUILD_DIR"
rc=0
ctest --output-on-failure --timeout 900 -j "${RD_TEST_JOBS:-$jobs}" "$@" || rc=$?
# CTest hides the output of skipped tests; print each one's reason.
awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
     /^skipped: / { print "  " name ": " $0 }' Testing/Temporary/LastTest.log 2>/dev/null |
  sort -u | sed '1i Skipped tests and why:' || true
exit $rc
