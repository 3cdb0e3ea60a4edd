"""A local control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager.

TLS everywhere the API server listens, RBAC and Node authorization on, service-account
tokens signed by a per-cluster key, an admin kubeconfig. Used by the test fixtures
(processes die with the test run) and by the demo (`schedcp dev cluster up`, detached).
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client, config
from pydantic import BaseModel

from schedcp_cli.devcluster import pki, processes
from schedcp_cli.devcluster.etcd import ensure_etcd
from schedcp_cli.devcluster.kubebuild import ensure_kubernetes_binaries
from schedcp_cli.devcluster.paths import KUBERNETES_VERSION
from schedcp_cli.devcluster.ports import free_port

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 90
INFO_FILE = "cluster.json"
SERVICE_RANGE = "10.96.0.0/16"
# The `kubernetes` Service: the first address of the range, and the names pods resolve it by.
SERVICE_ADDRESS = "10.96.0.1"
# Metadata of reads only, once each when answered: who read what, for the benchmarks that
# count one client's reads (apiserver_request_total has no client label).
READS_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [{"level": "Metadata", "verbs": ["get", "list"]}, {"level": "None"}],
}
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


class ClusterInfo(BaseModel):
    """What `up` leaves in the state dir for `env`, `status`, `down` and other processes."""

    state_dir: Path
    server: str
    kubeconfig: Path
    ca_file: Path
    kubectl: Path
    pids: dict[str, int]
    kubernetes_version: str
    # Set when real nodes join: the address their kubelets and pods reach the API server on.
    host_address: str | None = None


def write_kubeconfig(path: Path, server: str, ca: Path, user: pki.Pair) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "schedcp-dev", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "user", "user": {"client-certificate": str(user.cert), "client-key": str(user.key)}}],
        "contexts": [{"name": "schedcp-dev", "context": {"cluster": "schedcp-dev", "user": "user"}}],
        "current-context": "schedcp-dev",
    }
    path.write_text(json.dumps(document, indent=2))
    path.chmod(0o600)
    return path


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DevCluster:
    def __init__(self, state_dir: Path, *, detached: bool = False, host_address: str | None = None,
                 audit_reads: bool = False) -> None:
        """`host_address`: serve on this address of the host instead of 127.0.0.1 and run
        kube-scheduler, so that real kubelets can join and their pods reach the API server
        (through the `kubernetes` Service, whose 10.96.0.1 the serving certificate names).
        `audit_reads`: log every GET and LIST with its client to `audit_log`."""
        self.state_dir = state_dir
        self.detached = detached
        self.host_address = host_address
        self.audit_reads = audit_reads
        self.pids: dict[str, int] = {}
        self.info: ClusterInfo | None = None

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    def start(self) -> ClusterInfo:
        bin_dir = ensure_kubernetes_binaries()
        etcd = ensure_etcd()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.logs.mkdir(parents=True)
        try:
            return self._start(bin_dir, etcd)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, args: list[str]) -> None:
        self.pids[name] = processes.spawn(args, self.logs / f"{name}.log", detached=self.detached)

    def _start(self, bin_dir: Path, etcd: Path) -> ClusterInfo:
        certs = self.state_dir / "pki"
        ca = pki.Authority(certs)
        addresses = (self.host_address, SERVICE_ADDRESS) if self.host_address else ()
        serving = ca.issue("apiserver", "kube-apiserver", server=True, addresses=addresses, dns_names=SERVICE_NAMES)
        admin = ca.issue("admin", "schedcp-admin", organization="system:masters")
        manager = ca.issue("controller-manager", "system:kube-controller-manager")
        service_accounts = pki.service_account_keys(certs)
        etcd_url = self._start_etcd(etcd)
        port = free_port()
        server = f"https://{self.host_address or '127.0.0.1'}:{port}"
        self._spawn("kube-apiserver", self._apiserver_args(bin_dir, port, etcd_url, ca, serving, service_accounts))
        kubeconfig = write_kubeconfig(self.state_dir / "admin.kubeconfig", server, ca.pair.cert, admin)
        self._wait_ready(server, ca.pair.cert, admin)
        manager_config = write_kubeconfig(self.state_dir / "controller-manager.kubeconfig", server, ca.pair.cert, manager)
        self._spawn("kube-controller-manager", self._manager_args(bin_dir, manager_config, ca.pair, service_accounts))
        if self.host_address:
            scheduler = ca.issue("scheduler", "system:kube-scheduler")
            scheduler_config = write_kubeconfig(self.state_dir / "scheduler.kubeconfig", server, ca.pair.cert, scheduler)
            self._spawn("kube-scheduler", self._scheduler_args(bin_dir, scheduler_config))
        self.info = ClusterInfo(
            state_dir=self.state_dir,
            server=server,
            kubeconfig=kubeconfig,
            ca_file=ca.pair.cert,
            kubectl=bin_dir / "kubectl",
            pids=self.pids,
            kubernetes_version=KUBERNETES_VERSION,
            host_address=self.host_address,
        )
        (self.state_dir / INFO_FILE).write_text(self.info.model_dump_json(indent=2))
        return self.info

    def _start_etcd(self, etcd: Path) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(etcd),
                "--name=schedcp-dev",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=schedcp-dev={peer_url}",
                # A throwaway cluster: durability is not worth an fsync per write.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        return client_url

    def _apiserver_args(
        self, bin_dir: Path, port: int, etcd_url: str, ca: pki.Authority, serving: pki.Pair, sa: pki.Pair
    ) -> list[str]:
        address = self.host_address or "127.0.0.1"
        # For `kubectl logs` and `exec`, which the API server forwards to the kubelet.
        kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", organization="system:masters")
        return [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={address}",
            f"--advertise-address={address}",
            f"--secure-port={port}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.pair.cert}",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
            # Node names are not in any DNS here.
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={sa.cert}",
            f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--profiling=false",
            *self._audit_args(),
        ]

    def _audit_args(self) -> list[str]:
        if not self.audit_reads:
            return []
        policy = self.state_dir / "audit-policy.json"
        policy.write_text(json.dumps(READS_AUDIT_POLICY))
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-format=json"]

    def _manager_args(self, bin_dir: Path, kubeconfig: Path, ca: pki.Pair, sa: pki.Pair) -> list[str]:
        return [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--service-account-private-key-file={sa.key}",
            f"--root-ca-file={ca.cert}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
        ]

    def _scheduler_args(self, bin_dir: Path, kubeconfig: Path) -> list[str]:
        return [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
        ]

    def _wait_ready(self, server: str, ca: Path, user: pki.Pair) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(user.cert), str(user.key))
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            for name, pid in self.pids.items():
                if not processes.alive(pid):
                    raise RuntimeError(f"{name} exited while starting:\n{log_tail(self.logs / f'{name}.log')}")
            try:
                with urllib.request.urlopen(f"{server}/readyz", context=context, timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"kube-apiserver not ready in {READY_TIMEOUT_SECONDS}s:\n{log_tail(self.logs / 'kube-apiserver.log')}")

    def stop(self) -> None:
        # Reverse order: the API server goes before the etcd it writes to.
        for name in reversed(list(self.pids)):
            processes.stop(self.pids[name])
        self.pids.clear()

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        info = self._require_info()
        result = subprocess.run(
            [str(info.kubectl), f"--kubeconfig={info.kubeconfig}", *args], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def api_client(self) -> client.ApiClient:
        api: client.ApiClient = config.new_client_from_config(config_file=str(self._require_info().kubeconfig))
        return api

    @property
    def kubeconfig(self) -> Path:
        return self._require_info().kubeconfig

    def _require_info(self) -> ClusterInfo:
        if self.info is None:
            raise RuntimeError("the cluster is not started")
        return self.info

    @classmethod
    def attach(cls, state_dir: Path) -> DevCluster:
        """The detached cluster that `up` started in `state_dir`."""
        info = ClusterInfo.model_validate_json((state_dir / INFO_FILE).read_text())
        cluster = cls(state_dir, detached=True)
        cluster.info = info
        cluster.pids = dict(info.pids)
        return cluster

    def running(self) -> dict[str, bool]:
        return {name: processes.alive(pid) for name, pid in self.pids.items()}
