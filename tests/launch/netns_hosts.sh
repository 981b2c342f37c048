# shellcheck shell=bash
# netns_hosts.sh - simulated hosts for multi-node tests (sourced).
#
#   netns_up DIR N     N "hosts" h0..hN-1, each a network namespace with one
#                      interface eth0 = 10.201.0.(i+1)/24, all plugged into a
#                      bridge that lives in a switch namespace of its own;
#                      writes DIR/netns_map (for nsexec) and DIR/hostfile
#                      ("hI slots=1"), exports NSEXEC_MAP
#   netns_down         kills what still runs in those namespaces, deletes them
#
# Nothing is added to the machine's own network namespace: the veth pairs are
# created directly inside the test's namespaces, so several tests can use the
# same addresses at once.  Namespace names carry the test's PID (rl<pid>h0,
# rl<pid>sw); namespaces of a test that no longer runs (killed outright) are
# removed at the next netns_up.  tests/launch/nsexec plays ssh: it runs a
# command "on" hI inside hI's namespace with host name hI.  Needs root
# (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2 + util-linux; netns_skip_reason
# says what is missing.

NETNS_PREFIX=rl$$
NETNS_SUBNET=10.201.0
NETNS_LIST=()

netns_skip_reason() {
  local c missing=""
  [ "$(id -u)" = 0 ] || { echo "not root (network namespaces need CAP_NET_ADMIN)"; return; }
  for c in ip unshare mpirun; do command -v "$c" >/dev/null 2>&1 || missing+=" $c"; done
  [ -z "$missing" ] || { echo "missing$missing (apt-get install iproute2 util-linux openmpi-bin)"; return; }
  if ! ip netns add "${NETNS_PREFIX}probe" 2>/dev/null; then
    echo "cannot create a network namespace here (container without CAP_SYS_ADMIN?)"
    return
  fi
  ip netns del "${NETNS_PREFIX}probe"
}

netns_delete() { # NAME: stop its processes, then delete it
  local p
  [ -e "/run/netns/$1" ] || return 0
  for p in $(ip netns pids "$1" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  t_wait_until 5 "processes in $1 to end" netns_empty "$1" ||
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$1" 2>/dev/null
}
netns_empty() { [ -z "$(ip netns pids "$1" 2>/dev/null)" ]; }

netns_reap_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^rl[0-9]+(sw|h[0-9]+)$'); do
    pid=$(sed -E 's/^rl([0-9]+).*/\1/' <<<"$ns")
    kill -0 "$pid" 2>/dev/null && continue
    t_log "removing namespace $ns left by a killed test"
    netns_delete "$ns"
  done
}

netns_down() {
  local ns
  for ns in "${NETNS_LIST[@]}"; do netns_delete "$ns"; done
  NETNS_LIST=()
}

netns_links_up() {
  local i
  for ((i = 0; i < $1; i++)); do
    ip -n "${NETNS_PREFIX}h$i" -br link show eth0 | grep -q ' UP ' || return 1
  done
}

netns_reaches() { # FROM_NS IP: a TCP connect is refused (not unreachable)
  local out
  out=$(ip netns exec "$1" timeout 3 bash -c "echo >/dev/tcp/$2/9" 2>&1)
  [[ $out == *refused* ]]
}

netns_up() {
  local dir=$1 n=$2 i ns sw=${NETNS_PREFIX}sw
  netns_reap_stale
  t_on_exit netns_down
  ip netns add "$sw" || t_fail "ip netns add $sw failed"
  NETNS_LIST+=("$sw")
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  : >"$dir/netns_map"
  : >"$dir/hostfile"
  for ((i = 0; i < n; i++)); do
    ns=${NETNS_PREFIX}h$i
    ip netns add "$ns" || t_fail "ip netns add $ns failed"
    NETNS_LIST+=("$ns")
    ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "p$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$NETNS_SUBNET.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    echo "h$i $ns $NETNS_SUBNET.$((i + 1))" >>"$dir/netns_map"
    echo "h$i slots=1" >>"$dir/hostfile"
  done
  export NSEXEC_MAP=$dir/netns_map
  t_wait_until 10 "links up" netns_links_up "$n" || t_fail "veth links did not come up"
  for ((i = 1; i < n; i++)); do
    t_wait_until 10 "h0 to reach h$i" netns_reaches "${NETNS_PREFIX}h0" "$NETNS_SUBNET.$((i + 1))" ||
      t_fail "h0 cannot reach h$i over the bridge"
  done
  t_log "$n hosts up: $(awk '{ printf "%s=%s ", $1, $3 }' "$dir/netns_map")(namespaces ${NETNS_PREFIX}*)"
}
