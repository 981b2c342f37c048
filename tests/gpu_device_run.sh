#!/bin/bash
# gpu_device_run.sh - what issue 6 needs from a GPU machine, in one call.
#
# From the repository root on the GPU machine (the device tool's command,
# with carry: [".devdeps"]; see ../shared/device/README.md):
#
#     bash tests/gpu_device_run.sh
#
# Phases, in order, each under its own time limit and within one overall
# budget (RD_GPU_BUDGET_S, default 570 s: the tool allows 600 per command):
#   build     configure a fresh Ninja build (CUDA arch 90) in build-gpu, build all
#   tests     ctest -L cuda without the slow ones: op-by-op vs the CPU oracle,
#             ResNet-50/20 vs the CPU, NCCL and sync BN, the dist NCCL tests
#   sanitizer compute-sanitizer memcheck (ops + a 3-step training run)
#   train     ResNet-20 accuracy vs CPU; 2 ranks on one GPU = 1 rank
#   racecheck compute-sanitizer racecheck on the op tests
#   bench     tests/bench/gpu/bench_gpu.py: ours vs PyTorch eager / compile
# A phase that no longer fits the budget is reported as "not run (time)";
# call again with RD_GPU_PHASES=... to run the rest (a warm machine keeps
# build-gpu, so the build is then incremental).
#
# Output in $OUT (default ./gpu_out): summary.txt (read it first), and
# nvidia-smi.txt, configure.log, build.log, ctest_<phase>.log, bench.log,
# bench.json, bench.md.
#
# Knobs: RD_GPU_PHASES (comma list, default all of the above), RD_GPU_BUDGET_S, RD_GPU_BUILD,
# RD_GPU_BENCH_ONLY (config names for bench_gpu.py --only), RD_GPU_BENCH_STEPS.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
BUILD=${RD_GPU_BUILD:-$PWD/build-gpu}
PHASES=${RD_GPU_PHASES:-build,tests,sanitizer,train,racecheck,bench}
BUDGET=${RD_GPU_BUDGET_S:-570}
SUMMARY=$OUT/summary.txt
START=$SECONDS
: >"$SUMMARY"

say() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - (SECONDS - START))); }
want() { [[ ",$PHASES," == *",$1,"* ]]; }

# phase NAME CAP_S COMMAND...: runs COMMAND (an exported function) in a child
# bash under timeout min(CAP, time left - 5).
phase() {
  local name=$1 cap=$2; shift 2
  want "$name" || return 0
  local t
  t=$(left); t=$((t - 5)); [ "$t" -gt "$cap" ] && t=$cap
  if [ "$t" -lt 20 ]; then
    say "$(printf '%-10s not run (time: %ss left)' "$name" "$(left)")"
    return 0
  fi
  local t0=$SECONDS rc
  timeout --kill-after=10 "$t" bash -c '"$@"' "$name" "$@"
  rc=$?
  local st=ok
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && st="TIMEOUT after ${t}s"
  [ $rc -ne 0 ] && [ "$st" = ok ] && st="FAILED (exit $rc)"
  say "$(printf '%-10s %-22s %4ss' "$name" "$st" $((SECONDS - t0)))"
  return 0
}

if [ -f .devdeps/env.sh ]; then
  # shellcheck disable=SC1091
  DEVDEPS_QUIET=1 source .devdeps/env.sh 2>"$OUT/devdeps.log" || true
  tail -1 "$OUT/devdeps.log" >>"$SUMMARY"
fi
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)
say "gpu: ${gpu%%$'\n'*}"
say "commit: $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown), $(date -u +%FT%TZ)"
say ""

build_all() {
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRESNET_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/configure.log" 2>&1 || return 1
  cmake --build "$BUILD" -j "$(nproc)" >"$OUT/build.log" 2>&1
}

# ctest_phase NAME CTEST_ARGS...: runs ctest, keeps its log, lists failures.
ctest_phase() {
  local name=$1; shift
  ctest --test-dir "$BUILD" --output-on-failure --timeout 600 "$@" >"$OUT/ctest_$name.log" 2>&1
  local rc=$?
  local log=$OUT/ctest_$name.log
  grep -E "tests passed|tests failed" "$log" | sed "s/^/  $name: /" >>"$SUMMARY"
  sed -n '/The following tests did not run/,/^$/p' "$log" | sed "s/^/  /" >>"$SUMMARY"
  sed -n '/The following tests FAILED/,$p' "$log" | sed "s/^/  /" >>"$SUMMARY"
  grep -E "<-- FAIL|FAILED:|^FAIL " "$log" | head -40 | sed "s/^/  /" >>"$SUMMARY"
  return $rc
}

bench() {
  local only=()
  [ -n "${RD_GPU_BENCH_ONLY:-}" ] && only=(--only "$RD_GPU_BENCH_ONLY")
  python3 tests/bench/gpu/bench_gpu.py --build "$BUILD" --out "$OUT/bench.json" \
    --md "$OUT/bench.md" --log "$OUT/bench.log" --steps "${RD_GPU_BENCH_STEPS:-30}" \
    "${only[@]}" >"$OUT/bench.out" 2>&1
  local rc=$?
  cat "$OUT/bench.out" >>"$SUMMARY"
  return $rc
}

export OUT BUILD SUMMARY
export -f build_all ctest_phase bench
phase build 300 build_all
if ! want build && [ ! -d "$BUILD" ]; then say "no $BUILD: run the build phase first"; fi
phase tests 240 ctest_phase tests -L cuda -LE "sanitizer|train"
phase sanitizer 240 ctest_phase sanitizer -R test_cuda_memcheck
phase train 180 ctest_phase train -R test_cuda_train
phase racecheck 200 ctest_phase racecheck -R test_cuda_racecheck
phase bench 400 bench
say ""
say "total $((SECONDS - START))s of a ${BUDGET}s budget; logs in $OUT"
