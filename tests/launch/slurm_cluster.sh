# shellcheck shell=bash
# slurm_cluster.sh - a private one-node Slurm cluster for a test (sourced).
#
#   slurm_cluster_start DIR     munged + slurmctld + slurmd, node idle, or fail
#   slurm_submit ARGS...        sbatch --parsable ARGS; prints the job id
#   slurm_job_field ID FIELD    one field of `scontrol show job` (JobState, ...)
#   slurm_wait_state ID TIMEOUT STATE...   until the job is in one of STATEs
#   slurm_wait_end ID TIMEOUT   until the job has ended; prints its state
#
# Everything lives under DIR: the munge key and socket, slurm.conf (found by
# the commands through SLURM_CONF, exported here), spool and log folders.
# Nothing in /etc is read or written, and the daemons listen on two free ports
# of their own, so the test never touches a real Slurm on the machine.  They
# run as plain background processes (no systemd), each in a session of its own
# so that a ^C reaches the test, not them; the test's cleanup (the harness's
# exit stack, which runs on failure too) cancels the jobs, asks slurmctld to
# shut down and stops every daemon by its PID.  Daemons of a test that was
# killed outright (SIGKILL) are recorded in $SLURM_STATE_BASE and stopped at
# the next start.  Needs root, and Debian's slurm-wlm and munge packages
# (launch/install_deps.sh --test installs them); slurm_cluster_skip_reason
# says what is missing.
#
# Pitfalls handled: slurmd needs -N because the host name is not the node
# name; munged wants its socket folder open to all and its key folder private;
# a requeued job may start again only when its old credential has expired
# (AuthInfo cred_expire, 120 s by default: 5 s here) and the scheduler looks
# again (sched_interval, 60 s by default: 2 s here); srun must not use
# --kill-on-bad-exit with the exit-124 contract (slurm/run_job.sh).

SLURM_STATE_BASE=${TMPDIR:-/tmp}/rd_launch_slurm_pids

# slurm_cluster_skip_reason: empty when a cluster can be started here.
slurm_cluster_skip_reason() {
  local c missing=""
  [ "$(id -u)" = 0 ] || { echo "not root (the Slurm test starts munged, slurmctld and slurmd)"; return; }
  for c in slurmctld slurmd munged sbatch scontrol sinfo scancel srun setpriv ss; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=" $c"
  done
  [ -z "$missing" ] || { echo "missing$missing (apt-get install slurm-wlm munge, or launch/install_deps.sh --test)"; return; }
  id munge >/dev/null 2>&1 || echo "no 'munge' user (reinstall the munge package)"
}

# A free TCP port at or above $1 (nothing listening on it).
slurm_free_port() {
  local p=$1
  while [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; do p=$((p + 1)); done
  echo "$p"
}

# Stops daemons recorded by earlier tests that were killed before cleanup.
slurm_reap_stale() {
  local f pid owner
  mkdir -p "$SLURM_STATE_BASE"
  for f in "$SLURM_STATE_BASE"/*.pid; do
    [ -e "$f" ] || continue
    owner=$(basename "$f" | cut -d. -f1)        # the test that started it
    kill -0 "$owner" 2>/dev/null && continue    # still running: not stale
    read -r pid <"$f"
    # only a daemon whose command line names its own (dead test's) folder
    if [ -n "$pid" ] && grep -qaF -- "rd_launch" "/proc/$pid/cmdline" 2>/dev/null; then
      t_log "stopping stale daemon $pid left by a killed test"
      kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
  done
}

SLURM_PIDS=()
slurm_track() { # NAME PID
  SLURM_PIDS+=("$2")
  echo "$2" >"$SLURM_STATE_BASE/$$.$1.pid"
}

slurm_cluster_stop() {
  local i p
  [ ${#SLURM_PIDS[@]} -gt 0 ] || return 0
  if [ -n "${SLURM_CONF:-}" ] && [ ${#SLURM_PIDS[@]} -gt 1 ]; then
    timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1
    t_wait_until 20 "jobs to end" slurm_queue_empty
    timeout 10 scontrol shutdown >/dev/null 2>&1
  fi
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do
    p=${SLURM_PIDS[i]}
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p" 2>/dev/null
    t_wait_until 10 "pid $p to stop" slurm_pid_gone "$p" || kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -f "$SLURM_STATE_BASE/$$".*.pid
  SLURM_PIDS=()
  t_log "slurm cluster stopped"
}
slurm_pid_gone() { ! kill -0 "$1" 2>/dev/null; }
slurm_queue_empty() { [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ]; }
slurm_ctld_up() { [[ $(timeout 5 scontrol ping 2>/dev/null) == *UP* ]]; }
slurm_node_idle() { [ "$(timeout 5 sinfo -h -N -n localhost -o %T 2>/dev/null)" = idle ]; }

# slurm_cluster_start DIR [NODE_CPUS]
slurm_cluster_start() {
  local dir=$1 cpus=${2:-$(nproc)} port
  slurm_reap_stale
  t_on_exit slurm_cluster_stop
  mkdir -p "$dir"/{munge/etc,munge/run,etc,ctld,slurmd,log}
  chmod 755 "$dir" "$dir/munge" "$dir/munge/run"
  # munge: a key of our own, readable by the munge user only
  dd if=/dev/urandom of="$dir/munge/etc/munge.key" bs=1024 count=1 status=none
  chown -R munge:munge "$dir/munge"
  chmod 700 "$dir/munge/etc"
  chmod 400 "$dir/munge/etc/munge.key"
  local sock=$dir/munge/run/munge.socket
  setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    --socket="$sock" --key-file="$dir/munge/etc/munge.key" \
    --pid-file="$dir/munge/run/munged.pid" --log-file="$dir/munge/run/munged.log" \
    --seed-file="$dir/munge/run/munged.seed" >"$dir/log/munged.out" 2>&1 &
  slurm_track munged $!
  t_wait_until 10 "the munge socket" test -S "$sock" || { t_show "$dir/log/munged.out"; t_fail "munged did not start"; }
  munge -S "$sock" -n | unmunge -S "$sock" >/dev/null || t_fail "munge self-test failed"

  port=$(slurm_free_port $((17000 + $$ % 2000 * 2)))
  local dport
  dport=$(slurm_free_port $((port + 1)))
  cat >"$dir/etc/slurm.conf" <<EOF
# one-node test cluster written by tests/launch/slurm_cluster.sh
ClusterName=rdtest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock,cred_expire=5
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/ctld/slurmctld.pid
SlurmdPidFile=$dir/slurmd/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
InactiveLimit=0
KillWait=10
MinJobAge=600
$([ "$cpus" -gt "$(nproc)" ] && echo "SlurmdParameters=config_overrides")
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/etc/slurm.conf
  setsid /usr/sbin/slurmctld -D -c -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
  slurm_track slurmctld $!
  t_wait_until 30 "slurmctld" slurm_ctld_up || { t_show "$dir/log/slurmctld.log"; t_fail "slurmctld did not come up"; }
  setsid /usr/sbin/slurmd -D -N localhost -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
  slurm_track slurmd $!
  t_wait_until 60 "node localhost idle" slurm_node_idle || { t_show "$dir/log/slurmd.log"; t_fail "node not idle"; }
  t_log "slurm cluster up: $(slurmctld -V), ports $port/$dport, $cpus CPUs, conf $SLURM_CONF"
}

# The common start of a Slurm test: skip (77) when it cannot run here, need the
# trainer, make the scratch folder $T and start the cluster in it.
slurm_test_setup() {
  local why
  why=$(slurm_cluster_skip_reason)
  [ -z "$why" ] || t_skip "$why"
  t_need_trainer
  t_scratch
  slurm_cluster_start "$T/slurm"
}

slurm_submit() { sbatch --parsable "$@"; }

slurm_job_field() {
  scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | awk -F= -v f="$2" '$1 == f { sub(/^[^=]*=/, ""); print; exit }'
}

slurm_state_in() { # ID STATE...
  local st
  st=$(slurm_job_field "$1" JobState)
  shift
  local s
  for s in "$@"; do [ "$st" = "$s" ] && return 0; done
  return 1
}

slurm_wait_state() { # ID TIMEOUT STATE...
  local id=$1 timeout=$2
  shift 2
  t_wait_until "$timeout" "job $id to be $*" slurm_state_in "$id" "$@"
}

# slurm_wait_end ID TIMEOUT: prints the final state (or the last one seen).
slurm_wait_end() {
  slurm_wait_state "$1" "$2" COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY \
    BOOT_FAIL DEADLINE PREEMPTED >&2
  slurm_job_field "$1" JobState
}
