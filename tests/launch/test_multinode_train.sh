#!/bin/bash
# test_multinode_train.sh - multi-node training for real, over TCP between two
# simulated hosts, equals the same training on one host.
#
#   single host: launch/mpirun.sh --np 2 ... (both ranks here, shared memory)
#   two hosts:   launch/multinode.sh --hostfile (h0, h1: one rank each) run
#                "on" h0; hosts are network namespaces behind a bridge
#                (tests/launch/netns_hosts.sh), tests/launch/nsexec is ssh,
#                MPI traffic goes over TCP on the bridge's subnet.
# Both train configs/smoke.ini (shortened) on the CPU with the same settings.
# Checks: both exit 0; the two-host run placed rank 1 on another host and
# sent bytes over the bridge; the final.safetensors files are identical.
# Skips (77) when not root or namespaces cannot be made here.
source "$(dirname "$0")/harness.sh"
source "$(dirname "$0")/netns_hosts.sh"
why=$(netns_skip_reason)
[ -z "$why" ] || t_skip "$why"
t_need_trainer
NSEXEC=$RD_SOURCE/tests/launch/nsexec
t_scratch
netns_up "$T" 2

ARGS=(--config "$RD_SOURCE/configs/smoke.ini" --device cpu --set data.synthetic_train=128
      --set data.synthetic_val=32 --set train.epochs=2 --set train.batch_size=16
      --set train.threads=1 --set log.every_steps=1)

t_log "single host: launch/mpirun.sh --np 2"
timeout 240 "$RD_SOURCE/launch/mpirun.sh" --np 2 --bin "$RD_PROG" -- "${ARGS[@]}" \
  --set "log.dir=$T/single" >"$T/single.out" 2>&1
rc=$?
t_show "$T/single.out"
t_check "single-host run exit status 0 (got $rc)" [ "$rc" = 0 ]

t_log "two hosts: launch/multinode.sh on h0 with hosts h0,h1"
tx_to_h1() { ip netns exec "${NETNS_PREFIX}sw" cat /sys/class/net/p1/statistics/tx_bytes; }
tx0=$(tx_to_h1)
timeout 240 "$NSEXEC" h0 "$RD_SOURCE/launch/multinode.sh" --hostfile "$T/hostfile" \
  --iface "$NETNS_SUBNET.0/24" --rsh "$NSEXEC" --bin "$RD_PROG" -- "${ARGS[@]}" \
  --set "log.dir=$T/multi" >"$T/multi.out" 2>&1
rc=$?
tx1=$(tx_to_h1)
t_show "$T/multi.out"
t_check "two-host run exit status 0 (got $rc)" [ "$rc" = 0 ]
t_check "two-host run trained on 2 ranks" grep -q "training resnet20 on 2 ranks" "$T/multi.out"
t_check "mpirun placed one rank per host" grep -q -- "--host h0:1,h1:1" "$T/multi.out"
t_log "bytes sent to h1 over the bridge: $((tx1 - tx0))"
t_check "gradients crossed the bridge (> 1 MB to h1)" [ $((tx1 - tx0)) -gt 1000000 ]
t_check "final parameters identical to the single-host run" \
  cmp "$T/single/final.safetensors" "$T/multi/final.safetensors"
t_done
