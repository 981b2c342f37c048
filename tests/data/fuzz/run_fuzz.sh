#!/bin/bash
# run_fuzz.sh build | run TARGET RUNS - the data fuzz targets under CTest.
#   build: configures and builds tests/data/fuzz with clang into
#          $RD_BUILD/tests/data/fuzz-build and writes the seed corpora;
#          skips (77) when clang or libFuzzer is not installed.
#   run:   runs TARGET for RUNS inputs (fixed seed, at most 40 s) on a copy of
#          its corpus; fails on any crash, leak or sanitizer report.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${RD_BUILD:?}/tests/data/fuzz-build
case $1 in
  build)
    if ! command -v clang >/dev/null; then
      echo "skipped: clang is not installed (apt-get install clang libclang-rt-14-dev)"; exit 77
    fi
    probe=$(mktemp -d)
    trap 'rm -rf "$probe"' EXIT
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > "$probe/p.c"
    if ! clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null; then
      echo "skipped: clang has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"; exit 77
    fi
    cmake -S "$src" -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build "$out" -j "$(nproc)" >/dev/null
    rm -rf "$out/seeds"
    mkdir -p "$out/seeds/fuzz_jpeg" "$out/seeds/fuzz_shard"
    "$out/fuzz_seeds" "$out/seeds/fuzz_jpeg" "$out/seeds/fuzz_shard"
    echo "fuzz targets built in $out"
    ;;
  run)
    target=$2 runs=$3
    if [ ! -x "$out/$target" ]; then
      echo "skipped: $target was not built (see test_fuzz_build)"; exit 77
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp "$out/seeds/$target/"* "$work/"
    # libFuzzer exits 77 on a finding by default: CTest would call that "skipped".
    export LSAN_OPTIONS=suppressions=$src/hdf5.supp:print_suppressions=0
    "$out/$target" -runs="$runs" -seed=1 -max_total_time=40 -max_len=65536 \
      -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 \
      -artifact_prefix="$work/" "$work" 2>&1 | tail -n 25
    exit "${PIPESTATUS[0]}"
    ;;
esac
