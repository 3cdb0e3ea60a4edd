"""A Kubernetes node that is a micro-VM with a sched_ext kernel and a real kubelet.

The same kubelet, containerd and runc as the host's dev node (`schedcp_cli.devnode`) run
inside the VM, chrooted into the host's tree (read-only over 9p at /host): the guest has
no userland of its own, and these are the host's files. What they write goes to tmpfs
mounted over the tree's /var and /run. The kubelet reaches the API server through the
VM's only way out, the guestfwd at GUEST_FORWARD_ADDRESS; the API server cannot reach the
kubelet back, so `kubectl logs` and `exec` do not work on this node.

Choices, and why:
- cgroup v2 (host_root.sh mounts it in the chrooted tree), driver cgroupfs: no systemd;
  every controller is handed down from the root, as systemd would, for the kubelet's QoS
  cgroups;
- pods use the host network of the VM: pod networking would need the bridge, veth and
  netfilter modules and kube-proxy in the guest. The bridge CNI config is still written,
  because containerd reports the network not ready (and so the Node NotReady) without one;
- the tree's / is made rshared, as systemd does, for pods' HostToContainer mounts (the
  agent's /sys, cgroupfs and bpffs); its /boot holds the guest kernel's config, which
  libbpf reads for an scx scheduler's __kconfig externs;
- images come from `schedcp dev images`' archives, imported with ctr at boot (no registry);
- pods are bound by `spec.nodeName`: a control plane on 127.0.0.1 runs no kube-scheduler.

The guest reports on the results console (see schedcp.microvm.runner): `containerd-ready`,
`image-imported` (the pause image, then, after `kubelet-started`, each other archive: a
pod of those images must wait for its report), each with the guest's uptime, and
then, whenever they change, `sched-ext` (the kernel's state and ops), `pod-cgroup` (a pod
UID's cgroup id) and `class-maps` (the pinned class maps' entries).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import urlparse

from schedcp.microvm.runner import GUEST_ADDRESS, Forward, RunningVm, VmOptions
from schedcp.provisioning.kernel import provision_kernel
from schedcp.provisioning.modules import OVERLAY_MODULES, guest_modules
from schedcp_cli.devcluster import pki
from schedcp_cli.devcluster.cluster import ClusterInfo, write_kubeconfig
from schedcp_cli.devcluster.kubebuild import ensure_kubernetes_binaries
from schedcp_cli.devimages.build import ImageArchive
from schedcp_cli.devnode import configs, runtime
from schedcp_cli.vm_node import API_GUEST_PORT, guest_kubeconfig

# Where the node's files are inside the guest's chroot (a tmpfs over the host's /var).
GUEST_DIR = Path("/var/lib/schedcp-node")
SOCKET = Path("/run/schedcp-node/containerd.sock")
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
# Images of a few hundred MB unpack into the guest's memory (tmpfs), next to the pods.
MEMORY_MB = 4096
CONTAINERD_START_SECONDS = 120

BOOT = """insmod /schedcp/modules/overlay.ko || exit 1
mount -t tmpfs var /host/var
mount -t tmpfs run /host/run
mount -t tmpfs boot /host/boot && cp /schedcp/kernel-config "/host/boot/config-$(uname -r)"
mkdir -p /host{guest_dir} /host/var/log && cp -a /schedcp/node/. /host{guest_dir}/
in_host mount --make-rshared /
for controller in $(cat /host/sys/fs/cgroup/cgroup.controllers); do
  echo "+$controller" > /host/sys/fs/cgroup/cgroup.subtree_control
done
uptime() {{ cut -d' ' -f1 /proc/uptime; }}
in_host {containerd} --config={guest_dir}/containerd.toml 2>&1 | sed 's/^/containerd: /' > /dev/ttyS0 &
waited=0
until [ -S /host{socket} ]; do
  sleep 0.5; waited=$((waited + 1))
  [ $waited -gt {containerd_polls} ] && {{ report '{{"event":"containerd-failed"}}'; exit 1; }}
done
report '{{"event":"containerd-ready","uptime":'$(uptime)'}}'
"""
IMPORT = """before=$(uptime)
in_host {command} > /dev/ttyS0 2>&1
report '{{"event":"image-imported","image":"{name}","rc":'$?',"from":'$before',"uptime":'$(uptime)'}}'
"""
KUBELET = """in_host {kubelet} --config={guest_dir}/kubelet.json --kubeconfig={guest_dir}/kubelet.kubeconfig \\
  --hostname-override={node} --node-ip={address} 2>&1 | sed 's/^/kubelet: /' > /dev/ttyS0 &
report '{{"event":"kubelet-started","uptime":'$(uptime)'}}'
"""
# What the host cannot see in the guest, reported when it changes: the kernel's sched_ext
# state and ops, each pod cgroup's id (the inode of its directory, which is what the
# kernel and the class map call a cgroup id), and the entries of the agent's pinned class
# maps (bpftool's JSON: keys and values as byte arrays).
WATCH = """last= seen_pods=" " last_entries=
while true; do
  now="$(cat /sys/kernel/sched_ext/state) $(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)"
  if [ "$now" != "$last" ]; then
    report '{"event":"sched-ext","state":"'"${now%% *}"'","ops":"'"${now#* }"'","uptime":'$(uptime)'}'
    last=$now
  fi
  for dir in /host/sys/fs/cgroup/kubepods/pod* /host/sys/fs/cgroup/kubepods/*/pod*; do
    [ -d "$dir" ] || continue
    uid=${dir##*/pod}
    case "$seen_pods" in *" $uid "*) continue ;; esac
    report '{"event":"pod-cgroup","uid":"'"$uid"'","id":'$(stat -c %i "$dir")'}'
    seen_pods="$seen_pods$uid "
  done
  entries=
  for map in $(find /host/sys/fs/bpf -name cgroup_class 2>/dev/null); do
    entries="$entries{\\"map\\":\\"${map#/host}\\",\\"entries\\":$(in_host $GUEST_BPFTOOL --json map dump pinned "${map#/host}")},"
  done
  if [ "$entries" != "$last_entries" ]; then
    report '{"event":"class-maps","maps":['"${entries%,}"']}'
    last_entries=$entries
  fi
  sleep 1
done
"""


def _node_files(cluster: ClusterInfo, node: str, workdir: Path, pause: ImageArchive) -> dict[str, Path]:
    """The node's certificates and configuration, as the guest finds them under GUEST_DIR."""
    files = workdir / "node"
    files.mkdir(parents=True, exist_ok=True)
    cert = pki.Authority(cluster.ca_file.parent).issue(f"kubelet-{node}", f"system:node:{node}", organization="system:nodes")
    guest = {"ca.crt": cluster.ca_file, "kubelet.crt": cert.cert, "kubelet.key": cert.key}
    kubeconfig = write_kubeconfig(files / "kubelet.kubeconfig", cluster.server, GUEST_DIR / "ca.crt",
                                  pki.Pair(GUEST_DIR / "kubelet.crt", GUEST_DIR / "kubelet.key"))
    guest["kubelet.kubeconfig"] = guest_kubeconfig(kubeconfig, kubeconfig)
    texts = {
        "kubelet.json": configs.kubelet(address=GUEST_ADDRESS, port=KUBELET_PORT, healthz_port=KUBELET_HEALTHZ_PORT,
                                        ca=GUEST_DIR / "ca.crt", runtime_socket=SOCKET, cgroup_root=""),
        "containerd.toml": runtime.config(GUEST_DIR / "containerd", SOCKET, GUEST_DIR / "cni", pause.reference),
        "cni/10-schedcp.conflist": configs.cni_network(GUEST_DIR / "cni-ipam"),
    }
    for name, text in texts.items():
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_text(text)
        guest[name] = files / name
    return {f"node/{name}": path for name, path in guest.items()}


def node_script(node: str, images: list[ImageArchive], pause: ImageArchive) -> str:
    containerd_dir = runtime.ensure_containerd()
    # containerd finds its shim, and the shim runc, on PATH.
    containerd = f"env PATH={containerd_dir}:{runtime.RUNC.parent}:/usr/bin:/bin {containerd_dir / 'containerd'}"
    ctr = containerd_dir / "ctr"
    imports = [IMPORT.format(name=image.name, command=shlex.join(runtime.import_command(ctr, SOCKET, image.path)))
               for image in (pause, *images)]
    # The kubelet needs only the pause image; the others (minutes under TCG for a few hundred
    # MB: hashed, then unpacked, in emulated code) are imported while the Node registers.
    return (BOOT.format(guest_dir=GUEST_DIR, containerd=containerd, socket=SOCKET, containerd_polls=CONTAINERD_START_SECONDS * 2)
            + imports[0]
            + KUBELET.format(kubelet=ensure_kubernetes_binaries() / "kubelet", guest_dir=GUEST_DIR, node=node, address=GUEST_ADDRESS)
            + "".join(imports[1:])
            + WATCH)


class VmKubeletNode:
    """Boots the VM; the Node registers itself once the guest's kubelet is up."""

    def __init__(self, cluster: ClusterInfo, node: str, workdir: Path, images: list[ImageArchive], pause: ImageArchive,
                 extra_files: dict[str, Path] | None = None) -> None:
        """`extra_files`: more files for the node's directory (GUEST_DIR), by name there."""
        workdir.mkdir(parents=True, exist_ok=True)
        kernel = provision_kernel()
        files = _node_files(cluster, node, workdir, pause)
        files.update({f"node/{name}": path for name, path in (extra_files or {}).items()})
        files.update({f"modules/{m.name}": m for m in guest_modules(kernel, OVERLAY_MODULES)})
        files["kernel-config"] = kernel.config
        server = urlparse(cluster.server)
        assert server.port and server.hostname, f"no address in {cluster.server}"
        forward = Forward(guest_port=API_GUEST_PORT, host_port=server.port, host=server.hostname)
        options = VmOptions(share_host=True, memory_mb=MEMORY_MB, forward=forward)
        self.node = node
        self.vm = RunningVm(node_script(node, images, pause), files, options, workdir / f"{node}.console.log", kernel)

    def stop(self) -> None:
        self.vm.stop()
