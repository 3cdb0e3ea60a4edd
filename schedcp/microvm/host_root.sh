# Sourced by the micro-VM's /init when the host's file tree is shared (VM-as-a-node mode).
# Mounts the host's / read-only at /host over virtio-9p and gives it the guest's own
# kernel interfaces, so `in_host CMD` runs the host's programs (the project's virtualenv,
# its Python) against the guest's sched_ext kernel. /host/tmp is the only writable
# place; the guest's trixie bpftool is copied there because bookworm's cannot pin links.
for module in netfs 9pnet 9pnet_virtio 9p; do insmod /schedcp/modules/$module.ko || exit 1; done
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host || exit 1

# Gives a root directory from the host the guest kernel's proc, sys (with bpffs, debugfs,
# tracefs and cgroup2), dev and a writable tmp, so that programs chrooted there work.
prepare_root() {
  mount -t proc proc "$1/proc"
  mount -t sysfs sys "$1/sys"
  mount -t devtmpfs dev "$1/dev"
  mount -t bpf bpf "$1/sys/fs/bpf"
  mount -t cgroup2 cgroup2 "$1/sys/fs/cgroup"
  mount -t debugfs debugfs "$1/sys/kernel/debug" 2>/dev/null
  mount -t tracefs tracefs "$1/sys/kernel/tracing" 2>/dev/null
  mount -t tmpfs tmp "$1/tmp"
}
# The host's /tmp may hold the checkout itself (CI clones into it): its directories are
# bound back, read-only, into the guest's writable /host/tmp.
mkdir -p /host-tmp && mount --bind /host/tmp /host-tmp
prepare_root /host
for entry in /host-tmp/*/; do
  name=$(basename "$entry")
  mkdir -p "/host/tmp/$name" && mount --bind "$entry" "/host/tmp/$name"
done
mkdir -p /host/tmp/schedcp-guest
cp -a /usr/sbin/bpftool /usr/lib/x86_64-linux-gnu /host/tmp/schedcp-guest/
export GUEST_BPFTOOL="/tmp/schedcp-guest/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /tmp/schedcp-guest/x86_64-linux-gnu /tmp/schedcp-guest/bpftool"
in_host() { chroot /host /usr/bin/env HOME=/tmp PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"; }
