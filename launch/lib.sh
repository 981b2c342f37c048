# shellcheck shell=bash
# lib.sh - what local.sh, mpirun.sh and multinode.sh share (sourced, not run).
#
# GPU and core counts, where the resnet_dist program is, and printing a command
# exactly as it will run.  Plain bash and coreutils: nothing on the launch path
# needs Python.  Two variables exist for tests and for planning a launch on a
# machine that is not the target: RD_FAKE_GPUS=N and RD_FAKE_CORES=N replace
# the detected GPU and core counts.  Every function prints its result on
# stdout; user mistakes end the script with one line on stderr and status 2.

RD_LAUNCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RD_REPO_DIR=$(cd "$RD_LAUNCH_DIR/.." && pwd)

# rd_usage_error MESSAGE: a user's mistake; one line, exit status 2.
rd_usage_error() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# rd_need_uint OPTION VALUE: VALUE must be a positive integer.
rd_need_uint() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || rd_usage_error "$1 expects a positive integer, got '$2'"
}

# rd_print_help FILE: the comment block after the shebang, without '# '.
rd_print_help() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

# rd_gpu_count: GPUs this process may use.  RD_FAKE_GPUS, else the entries of
# CUDA_VISIBLE_DEVICES when it is set, else the lines of `nvidia-smi -L`.
rd_gpu_count() {
  if [ -n "${RD_FAKE_GPUS:-}" ]; then
    [[ $RD_FAKE_GPUS =~ ^[0-9]+$ ]] || rd_usage_error "RD_FAKE_GPUS must be a count, got '$RD_FAKE_GPUS'"
    echo "$RD_FAKE_GPUS"
    return
  fi
  if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
    case $CUDA_VISIBLE_DEVICES in
      "" | -1 | NoDevFiles) echo 0 ;;
      *) tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c . ;;
    esac
    return
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
    return
  fi
  echo 0
}

# rd_core_count: cores this process may run on (RD_FAKE_CORES, else nproc,
# which honours an inherited CPU affinity mask).
rd_core_count() {
  if [ -n "${RD_FAKE_CORES:-}" ]; then
    rd_need_uint RD_FAKE_CORES "$RD_FAKE_CORES"
    echo "$RD_FAKE_CORES"
    return
  fi
  nproc
}

# rd_find_bin [PATH]: the program to launch, as an absolute path.  The
# argument (--bin), else $RD_BIN, else this checkout's build/src/resnet_dist,
# else resnet_dist on PATH.
rd_find_bin() {
  local want=${1:-${RD_BIN:-}}
  if [ -n "$want" ]; then
    [ -x "$want" ] && [ ! -d "$want" ] || rd_usage_error "--bin $want: no such executable file"
    echo "$(cd "$(dirname "$want")" && pwd)/$(basename "$want")"
    return
  fi
  if [ -x "$RD_REPO_DIR/build/src/resnet_dist" ]; then
    echo "$RD_REPO_DIR/build/src/resnet_dist"
    return
  fi
  command -v resnet_dist 2>/dev/null && return
  rd_usage_error "resnet_dist not found: build it (cmake -S . -B build && cmake --build build)," \
    "or pass --bin PATH (or set RD_BIN)"
}

# rd_quote WORD: WORD as the shell reads it back: bare when it has only safe
# characters, else in single quotes.
rd_quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%^-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# rd_print_cmd WORD...: the command on one line, each word quoted, so that
# pasting the line runs exactly this command.
rd_print_cmd() {
  local out="" w
  for w in "$@"; do out+="${out:+ }$(rd_quote "$w")"; done
  echo "$out"
}

# rd_run_cmd DRY_RUN LABEL CMD...: with DRY_RUN=1 print CMD (quoted so it can
# be pasted) and exit 0; else say "LABEL: CMD" on stderr and exec CMD.
rd_run_cmd() {
  local dry=$1 label=$2
  shift 2
  if [ "$dry" = 1 ]; then
    rd_print_cmd "$@"
    exit 0
  fi
  echo "$label: $(rd_print_cmd "$@")" >&2
  exec "$@"
}

# rd_mca_default NAME VALUE: "--mca NAME VALUE" unless OMPI_MCA_NAME is set
# in the environment (the user's choice wins).
rd_mca_default() {
  local var="OMPI_MCA_$1"
  [ -n "${!var:-}" ] && return
  printf '%s\n' --mca "$1" "$2"
}

# rd_env_default NAME VALUE: "-x NAME=VALUE" unless NAME is set (then it is
# inherited as it is, and forwarded by name with -x NAME).
rd_env_default() {
  if [ -n "${!1+set}" ]; then
    printf '%s\n' -x "$1"
  else
    printf '%s\n' -x "$1=$2"
  fi
}
