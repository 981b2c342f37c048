#!/bin/bash
# run_bench.sh [BUILD_DIR] [N_IMAGES] - the input-pipeline benchmark: makes
# ImageNet-like JPEGs (~500x375, ~110 KB) and a shard set of them, then
#  1. the headline: our decode + RandomResizedCrop(224) + flip against
#     torchvision + PIL (RandomResizedCrop(224), flip, ToTensor, Normalize) on
#     the same files, in alternating rounds so that both see the same load on
#     a shared machine; medians of the rounds;
#  2. decode strategies side by side (bench_pipeline's methods) and the whole
#     pipeline reading the shards.
# A benchmark, not a test: it prints figures and never fails on them.  Needs
# /usr/bin/python3 with torch, torchvision and PIL.  RD_BENCH_ROUNDS (5).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../../build}
n=${2:-200}
rounds=${RD_BENCH_ROUNDS:-5}
py=${RD_PYTHON:-/usr/bin/python3}
bench=$build/tests/bench/pipeline/bench_pipeline
work=$(mktemp -d "${TMPDIR:-/tmp}/rd_bench_pipeline.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$py" "$here/make_images.py" "$work/imgs/train/all" "$n"
"$build/data/resnet_shards" build --from imagefolder --input "$work/imgs" --output "$work/shards" \
  --shards 2 >/dev/null 2>&1
files=("$work"/imgs/train/all/*.JPEG)
echo "== $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== libjpeg-turbo $(pkg-config --modversion libturbojpeg 2>/dev/null || echo '?'), torchvision $("$py" -c 'import torchvision; print(torchvision.__version__)'), PIL $("$py" -c 'import PIL; print(PIL.__version__)')"
for ((r = 0; r < rounds; r++)); do
  "$bench" --threads 1,2 --repeat 1 --methods ours "${files[@]}" | grep '^ours'
  "$py" "$here/bench_torchvision.py" --threads 1,2 --repeat 1 "${files[@]}" | grep '^torchvision'
done > "$work/rounds.txt"
echo "== 1. ours vs torchvision + PIL, $rounds alternating rounds, median img/s ($n JPEGs x 2 passes)"
"$py" - "$work/rounds.txt" <<'PY'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    f = line.split()
    rates.setdefault((f[0], int(f[2])), []).append(float(f[3]))
for t in sorted({t for _, t in rates}):
    o, v = statistics.median(rates[("ours", t)]), statistics.median(rates[("torchvision", t)])
    print(f"threads {t}: ours {o:7.1f} img/s ({o / t:6.1f} per thread)   "
          f"torchvision {v:7.1f} img/s ({v / t:6.1f} per thread)   ratio {o / v:.2f}x")
PY
echo "== 2. decode strategies and the whole pipeline (median of 3)"
"$bench" --threads 1,2 --repeat 3 --shards "$work/shards" "${files[@]}"
