"""A Kubernetes node that is a micro-VM with a sched_ext kernel, running the real agent.

The guest mounts the host's tree read-only (so it runs this checkout's virtualenv), has
a network that reaches only the API server (QEMU user networking, restrict=on, one
guestfwd to the apiserver's loopback port), and runs `schedcp-node-agent` with the
guest's trixie bpftool against its own kernel. The agent's logs go to the VM's serial
console, which lands in a file on the host. It runs scx scheduler binaries from the host's
build cache; the agent's root (the host tree) gets the guest kernel's config in /boot,
where libbpf reads it, and a writable /run, where scx schedulers put their stats socket.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from urllib.parse import urlparse

from schedcp.microvm.accel import Timing
from schedcp.microvm.runner import GUEST_FORWARD_ADDRESS, Forward, RunningVm, VmOptions
from schedcp.provisioning.kernel import provision_kernel
from schedcp.provisioning.scx import scx_root

API_GUEST_PORT = 6443
# A pod's processes go where a cgroupfs-driver kubelet would put a Burstable pod's, with
# the cpu controller enabled down to it as the kubelet does: sched_ext's task cgroup (what
# class-aware schedulers key on) is the nearest one with the cpu controller. The process
# joins its cgroup before it execs, so none of its threads starts outside it. Its JSON
# output lines become `pod-output` reports on the results console, as a container's logs.
POD_STARTER = """
pod_output() {
  while read -r line; do
    case $line in "{"*) report "{\\"event\\":\\"pod-output\\",\\"pod\\":\\"$1\\",\\"output\\":$line}" ;; esac
  done
}
start_pod() {
  uid=$1
  cg=/host/sys/fs/cgroup
  for level in kubepods burstable pod$uid; do
    echo +cpu > "$cg/cgroup.subtree_control" 2>/dev/null
    cg="$cg/$level"; mkdir -p "$cg"
  done
  shift
  sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@" 2>/dev/null | pod_output "$uid" &
}
"""
SCX_ROOT = """mount -t tmpfs boot /host/boot && cp /schedcp/kernel-config "/host/boot/config-$(uname -r)"
mount -t tmpfs run /host/run
"""
AGENT = """in_host env NODE_NAME={node} PYTHONDONTWRITEBYTECODE=1 {python} -m schedcp_node_agent \\
  --kubeconfig {kubeconfig} --state-dir /tmp/schedcp-vm/{node} --bpftool "$GUEST_BPFTOOL" \\
  --scx-dir {scx_dir} --artifacts-namespace {namespace} --lease-namespace {namespace} --metrics-port 0 \\
  --status-interval {status_interval} \\
  {extra} > /dev/ttyS0 2>&1"""
LAST_AGENT = """report '{{"event":"agent-starting"}}'
{agent}
report "{{\\"event\\":\\"agent-exited\\",\\"rc\\":$?}}"
"""


def guest_kubeconfig(admin_kubeconfig: Path, target: Path) -> Path:
    """The admin kubeconfig, pointed at the forwarded address; the certificate names localhost."""
    document = json.loads(admin_kubeconfig.read_text())
    cluster = document["clusters"][0]["cluster"]
    cluster["server"] = f"https://{GUEST_FORWARD_ADDRESS}:{API_GUEST_PORT}"
    cluster["tls-server-name"] = "localhost"
    target.write_text(json.dumps(document, indent=2))
    target.chmod(0o600)
    return target


def pod_lines(pods: dict[str, list[str]]) -> str:
    """Guest shell that starts each pod's process (host paths, seen under /host) in its cgroup."""
    if not pods:
        return ""
    starts = "\n".join(f"start_pod {uid} " + " ".join(shlex.quote(f"/host{arg}" if arg.startswith("/") else arg)
                                                       for arg in argv) for uid, argv in pods.items())
    return POD_STARTER + starts + "\n"


class VmNode:
    def __init__(self, node: str, admin_kubeconfig: Path, server: str, workdir: Path, *,
                 namespace: str = "schedcp-system", status_interval: float = 5, extra_args: str = "",
                 pods: dict[str, list[str]] | None = None, sharing: tuple[str, ...] = (),
                 timing: Timing = Timing.REAL_TIME) -> None:
        """`pods`: pod UID -> the command (absolute host paths) that is that pod's workload.
        `sharing`: more node names whose agents run in this VM too, on the same kernel, as
        kind's nodes share their host's."""
        workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = guest_kubeconfig(admin_kubeconfig, workdir / f"{node}.kubeconfig")

        def agent(name: str) -> str:
            return AGENT.format(node=name, python=sys.executable, kubeconfig=kubeconfig, namespace=namespace,
                                status_interval=status_interval, extra=extra_args, scx_dir=scx_root().parent)

        others = "".join(f"{agent(name)} &\n" for name in sharing)
        script = SCX_ROOT + pod_lines(pods or {}) + others + LAST_AGENT.format(agent=agent(node))
        port = urlparse(server).port
        assert port, f"no port in {server}"
        options = VmOptions(share_host=True, memory_mb=1536, forward=Forward(guest_port=API_GUEST_PORT, host_port=port),
                            timing=timing)
        self.node = node
        self.vm = RunningVm(script, {"kernel-config": provision_kernel().config}, options, workdir / f"{node}.console.log")

    def stop(self) -> None:
        self.vm.stop()
