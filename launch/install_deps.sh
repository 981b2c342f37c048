#!/bin/bash
# install_deps.sh - make sure the Debian packages resnet_dist needs are present.
#
#   launch/install_deps.sh [--build|--test] [--check]
#     --build  what building and running needs (default)
#     --test   also what the test suite needs (PyTorch oracle, h5py, Slurm, ...)
#     --check  only report; never install
#
# As root with apt-get, missing packages are installed (apt-get update once).
# Otherwise the exact command to run is printed and the exit status is 1.
# Nothing is downloaded from anywhere but the distribution's archive.
set -euo pipefail

want=build check_only=0
for a in "$@"; do
  case $a in
    --build) want=build ;;
    --test) want=test ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_deps.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

BUILD_PKGS=(cmake make gcc g++ pkg-config libopenmpi-dev openmpi-bin libhdf5-dev
            libturbojpeg0-dev libinih-dev libopenblas-dev gnuplot-nox)
TEST_PKGS=(python3-torch python3-torchvision python3-h5py python3-numpy python3-pil
           slurm-wlm munge iproute2 util-linux procps clang libclang-rt-14-dev)

pkgs=("${BUILD_PKGS[@]}")
[ "$want" = test ] && pkgs+=("${TEST_PKGS[@]}")

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#pkgs[@]} packages present ($want)"
  exit 0
fi
echo "install_deps: missing: ${missing[*]}"
if [ "$check_only" = 1 ]; then exit 1; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install_deps: run as root:  apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting daemons (slurmctld, munged): the tests
# start and stop their own.  Only added if no policy exists, removed after.
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() { [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
APT="apt-get -o DPkg::Lock::Timeout=600 -q"
$APT update -qq
$APT install -y -qq --no-install-recommends "${missing[@]}" >/tmp/resnet_dist_apt.log 2>&1 || {
  echo "install_deps: apt-get install failed; last lines of /tmp/resnet_dist_apt.log:" >&2
  tail -20 /tmp/resnet_dist_apt.log >&2
  exit 1
}
echo "install_deps: installed ${#missing[@]} packages"
