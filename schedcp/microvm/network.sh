# Sourced by the micro-VM's /init when the guest gets a network (VM-as-a-node mode).
# QEMU's user network with restrict=on: the guest reaches nothing but the forwards the
# host set up (the API server at 10.0.2.100), which answer through QEMU itself.
for module in failover net_failover virtio_net; do insmod /schedcp/modules/$module.ko || exit 1; done
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
