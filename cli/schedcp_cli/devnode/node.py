"""A real Kubernetes node on this host: containerd, the kubelet and kube-proxy, joined to the
project's control plane (which must serve on a host address: `DevCluster(host_address=...)`).

containerd and the kubelet run in the node's own mount namespace (see mountns); kube-proxy
in the host's, since it only writes iptables rules. What `up` changes on the host is listed
in the node's state dir before it is changed, so `down` undoes all of it, and so does the
next `up` of the same node after a crash: processes (by mount namespace and cgroup), the
cgroup root, iptables chains, the bridge, sysctls, the namespace's mounts, the Node object.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel

from schedcp_cli.devcluster import pki, processes
from schedcp_cli.devcluster.cluster import ClusterInfo, log_tail, write_kubeconfig
from schedcp_cli.devcluster.kubebuild import ensure_kubernetes_binaries
from schedcp_cli.devcluster.ports import free_port
from schedcp_cli.devimages.build import ImageArchive
from schedcp_cli.devnode import cgroups, configs, hostlock, hostnet, mountns, runtime

log = logging.getLogger(__name__)

INFO_FILE = "node.json"
READY_TIMEOUT_SECONDS = 180
# Host paths the kubelet, containerd, runc and the CNI plugins write to whatever their flags
# say; inside the node's mount namespace each is a directory of the node's state dir.
FIXED_PATHS = ("/var/lib/kubelet", "/var/lib/cni", "/var/log/pods", "/var/log/containers", "/run/containerd")
# hostPath volumes of the project's chart that a dev host may lack: containerd creates a
# missing one on the host, so `down` removes those that did not exist before `up`.
CHART_HOST_PATHS = ("/lib/modules", "/var/lib/schedcp")


class NodeInfo(BaseModel):
    """Written before `up` changes the host, and read by `down` (or the next `up`)."""

    name: str
    state_dir: Path
    cgroup_root: str
    sysctls: dict[str, str]
    kubectl: Path
    kubeconfig: Path
    runtime_socket: Path
    pids: dict[str, int] = {}
    created_mount_points: list[Path] = []
    absent_chart_paths: list[Path] = []


def nodes_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "schedcp" / "nodes"


def node_state_dir(name: str) -> Path:
    return nodes_dir() / name


def other_nodes(name: str) -> list[str]:
    """Nodes other than `name` whose `up` left an info file: up, or crashed without `down`."""
    base = nodes_dir()
    return sorted(d.name for d in base.iterdir() if d.name != name and (d / INFO_FILE).is_file()) \
        if base.is_dir() else []


class DevNode:
    def __init__(self, cluster: ClusterInfo, name: str = "dev-node-1", *, detached: bool = False) -> None:
        if cluster.host_address is None:
            raise ValueError("a real node needs a control plane on a host address (DevCluster(host_address=...))")
        self.cluster = cluster
        self.address = cluster.host_address
        self.name = name
        self.detached = detached
        self.state_dir = node_state_dir(name)
        self.info: NodeInfo | None = None
        self.containerd_dir = Path()

    @property
    def ns_file(self) -> Path:
        return self.state_dir / "mnt.ns"

    def start(self, images: list[ImageArchive], pause: ImageArchive) -> NodeInfo:
        with hostlock.held(nodes_dir()):
            others = other_nodes(self.name)
            if others:
                raise hostlock.HostBusy(
                    f"node {others[0]} is up on this host (or crashed without `down`), and nodes share its bridge, "
                    f"iptables chains and sysctls: `schedcp dev node down {others[0]}` first")
            return self._start_held(images, pause)

    def _start_held(self, images: list[ImageArchive], pause: ImageArchive) -> NodeInfo:
        bin_dir = ensure_kubernetes_binaries()
        containerd_dir = self.containerd_dir = runtime.ensure_containerd()
        teardown(self.state_dir)
        (self.state_dir / "logs").mkdir(parents=True)
        self.info = NodeInfo(
            name=self.name, state_dir=self.state_dir, cgroup_root=f"schedcp-{self.name}", sysctls=hostnet.read_sysctls(),
            kubectl=self.cluster.kubectl, kubeconfig=self.cluster.kubeconfig,
            runtime_socket=self.state_dir / "containerd" / "containerd.sock",
            absent_chart_paths=[Path(p) for p in CHART_HOST_PATHS if not Path(p).exists()],
        )
        self._save()
        try:
            self._start(bin_dir, containerd_dir, images, pause)
        except BaseException:
            teardown(self.state_dir)
            raise
        return self.info

    def _start(self, bin_dir: Path, containerd_dir: Path, images: list[ImageArchive], pause: ImageArchive) -> None:
        info = self._require_info()
        binds = {Path(p): self.state_dir / "host" / p.strip("/").replace("/", "-") for p in FIXED_PATHS}
        info.created_mount_points = mountns.create(self.ns_file, binds)
        self._save()
        cgroups.create(info.cgroup_root)
        self._start_containerd(containerd_dir, pause.reference)
        for image in (pause, *images):
            runtime.import_image(containerd_dir / "ctr", info.runtime_socket, image.path)
        self._start_kubelet(bin_dir)
        self._start_kube_proxy(bin_dir)
        self._wait_ready()

    def _spawn(self, name: str, argv: list[str], *, in_namespace: bool = True) -> None:
        info = self._require_info()
        # containerd finds its shim, and the shim runc, on PATH.
        env = {**os.environ, "PATH": f"{self.containerd_dir}:{runtime.RUNC.parent}:{os.environ.get('PATH', '')}"}
        command = mountns.command(self.ns_file, argv) if in_namespace else argv
        info.pids[name] = processes.spawn(command, self.state_dir / "logs" / f"{name}.log", detached=self.detached, env=env)
        self._save()

    def _start_containerd(self, containerd_dir: Path, pause_image: str) -> None:
        info = self._require_info()
        state = self.state_dir / "containerd"
        cni_conf = self.state_dir / "cni"
        cni_conf.mkdir(parents=True)
        (cni_conf / "10-schedcp.conflist").write_text(configs.cni_network(self.state_dir / "cni-ipam"))
        config = state / "config.toml"
        state.mkdir(parents=True, exist_ok=True)
        config.write_text(runtime.config(state, info.runtime_socket, cni_conf, pause_image))
        self._spawn("containerd", [str(containerd_dir / "containerd"), f"--config={config}"])
        self._wait_for("containerd", lambda: _listening(info.runtime_socket))

    def _start_kubelet(self, bin_dir: Path) -> None:
        info = self._require_info()
        authority = pki.Authority(self.cluster.ca_file.parent)
        cert = authority.issue(f"kubelet-{self.name}", f"system:node:{self.name}", organization="system:nodes")
        kubeconfig = write_kubeconfig(self.state_dir / "kubelet.kubeconfig", self.cluster.server, self.cluster.ca_file, cert)
        config = self.state_dir / "kubelet.json"
        config.write_text(configs.kubelet(
            address=self.address, port=free_port(), healthz_port=free_port(), ca=self.cluster.ca_file,
            runtime_socket=info.runtime_socket, cgroup_root=info.cgroup_root,
        ))
        self._spawn("kubelet", [
            str(bin_dir / "kubelet"), f"--config={config}", f"--kubeconfig={kubeconfig}",
            f"--hostname-override={self.name}", f"--node-ip={self.address}", f"--root-dir={self.state_dir / 'kubelet'}",
        ])

    def _start_kube_proxy(self, bin_dir: Path) -> None:
        authority = pki.Authority(self.cluster.ca_file.parent)
        cert = authority.issue(f"kube-proxy-{self.name}", "system:kube-proxy")
        kubeconfig = write_kubeconfig(self.state_dir / "kube-proxy.kubeconfig", self.cluster.server, self.cluster.ca_file, cert)
        config = self.state_dir / "kube-proxy.json"
        config.write_text(configs.kube_proxy(
            kubeconfig=kubeconfig, node_name=self.name, healthz_port=free_port(), metrics_port=free_port()
        ))
        self._spawn("kube-proxy", [str(bin_dir / "kube-proxy"), f"--config={config}"], in_namespace=False)

    def _wait_ready(self) -> None:
        jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
        self._wait_for("the Node to be Ready", lambda: self._kubectl("get", "node", self.name, "-o", f"jsonpath={jsonpath}") == "True")

    def _wait_for(self, what: str, ready, timeout: float = READY_TIMEOUT_SECONDS) -> None:  # type: ignore[no-untyped-def]
        info = self._require_info()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, pid in info.pids.items():
                if not processes.alive(pid):
                    raise RuntimeError(f"{name} exited while waiting for {what}:\n{log_tail(self.state_dir / 'logs' / f'{name}.log')}")
            if ready():
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {n}\n{log_tail(self.state_dir / 'logs' / f'{n}.log')}" for n in info.pids)
        raise TimeoutError(f"no {what} within {timeout}s:\n{logs}")

    def _kubectl(self, *args: str) -> str:
        info = self._require_info()
        result = subprocess.run([str(info.kubectl), f"--kubeconfig={info.kubeconfig}", *args], capture_output=True, text=True, check=False)
        return result.stdout.strip()

    def _save(self) -> None:
        (self.state_dir / INFO_FILE).write_text(self._require_info().model_dump_json(indent=2))

    def _require_info(self) -> NodeInfo:
        if self.info is None:
            raise RuntimeError("the node is not started")
        return self.info

    def stop(self) -> None:
        down(self.name)


def down(name: str) -> None:
    with hostlock.held(nodes_dir()):
        teardown(node_state_dir(name))


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def teardown(state_dir: Path) -> None:
    """Undo all a node's `up` did, from its info file; nothing to do without one."""
    info_file = state_dir / INFO_FILE
    if not info_file.is_file():
        shutil.rmtree(state_dir, ignore_errors=True)
        return
    info = NodeInfo.model_validate_json(info_file.read_text())
    ns_file = state_dir / "mnt.ns"
    # The kubelet first, so that it does not restart the containers killed next.
    for name in ("kubelet", "kube-proxy"):
        if _runs(info.pids.get(name), name):
            processes.stop(info.pids[name])
    cgroups.kill_all(info.cgroup_root)
    for pid in mountns.members(ns_file):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for name, pid in info.pids.items():
        if _runs(pid, name):
            processes.stop(pid)
    mountns.destroy(ns_file, info.created_mount_points)
    for path in info.absent_chart_paths:
        shutil.rmtree(path, ignore_errors=True)
    cgroups.remove(info.cgroup_root)
    hostnet.remove_rules()
    hostnet.remove_bridge()
    hostnet.restore_sysctls(info.sysctls)
    subprocess.run([str(info.kubectl), f"--kubeconfig={info.kubeconfig}", "delete", "node", info.name, "--wait=false",
                    "--ignore-not-found", "--request-timeout=5s"], capture_output=True, check=False)
    shutil.rmtree(state_dir, ignore_errors=True)


def _runs(pid: int | None, name: str) -> bool:
    """Whether `pid` is still the node's `name`: after a crash the pid may be another's by now."""
    if pid is None or not processes.alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(arg.decode(errors="replace")).name == name for arg in argv[:4])
