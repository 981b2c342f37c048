#!/bin/bash
# test_netns_harness.sh - the multi-host harness and launch/multinode.sh,
# without the training program: two simulated hosts (network namespaces h0,
# h1 behind a bridge, tests/launch/netns_hosts.sh), launch/multinode.sh run
# "on" h0 with the test's hostfile, nsexec as its ssh and the bridge's subnet
# as its network; mpi_hello must report rank 0 on h0 and rank 1 on h1, an
# all-reduce that is right, and bytes must have crossed the bridge to h1.
# Skips (77) when not root or namespaces cannot be made here.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/netns_hosts.sh"
why=$(netns_skip_reason)
[ -z "$why" ] || t_skip "$why"
HELLO=${RD_MPI_HELLO:?RD_MPI_HELLO (the mpi_hello test program) must be set}
NSEXEC=$RD_SOURCE/tests/launch/nsexec
t_scratch
netns_up "$T" 2

tx_to_h1() { ip netns exec "${NETNS_PREFIX}sw" cat /sys/class/net/p1/statistics/tx_bytes; }
tx0=$(tx_to_h1)
timeout 120 "$NSEXEC" h0 "$RD_SOURCE/launch/multinode.sh" --hostfile "$T/hostfile" \
  --iface "$NETNS_SUBNET.0/24" --rsh "$NSEXEC" --bin "$HELLO" >"$T/out" 2>&1
rc=$?
tx1=$(tx_to_h1)
t_show "$T/out"
t_check "multinode.sh exit status 0 (got $rc)" [ "$rc" = 0 ]
t_check "rank 0 ran on h0" grep -q '^mpi_hello rank 0/2 host h0 sum 3 expect 3 ok$' "$T/out"
t_check "rank 1 ran on h1" grep -q '^mpi_hello rank 1/2 host h1 sum 3 expect 3 ok$' "$T/out"
t_log "bytes sent to h1 over the bridge during the run: $((tx1 - tx0))"
t_check "traffic crossed the bridge" [ $((tx1 - tx0)) -gt 0 ]

netns_down
t_check "namespaces removed" [ -z "$(ip netns list | grep "^$NETNS_PREFIX")" ]
t_done
