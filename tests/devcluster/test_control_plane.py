"""The local control plane is a real, secured API server that never leaves processes behind."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from schedcp_cli.components import wait_until
from schedcp_cli.devcluster import processes
from schedcp_cli.devcluster.cluster import INFO_FILE, ClusterInfo

pytestmark = pytest.mark.cluster


def test_readyz_is_served_over_tls_that_verifies_against_the_cluster_ca(kube_cluster) -> None:
    info = kube_cluster.info
    context = ssl.create_default_context(cafile=str(info.ca_file))
    pki = info.state_dir / "pki"
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    with urllib.request.urlopen(f"{info.server}/readyz", context=context, timeout=10) as reply:
        assert reply.status == 200
    anonymous = ssl.create_default_context(cafile=str(info.ca_file))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{info.server}/api/v1/secrets", context=anonymous, timeout=10)
    assert refused.value.code in (401, 403)


def test_rbac_refuses_an_unprivileged_user(kube_cluster) -> None:
    denied = kube_cluster.kubectl("auth", "can-i", "list", "secrets", "--as=someone", check=False)
    assert denied.stdout.strip() == "no"
    allowed = kube_cluster.kubectl("auth", "can-i", "list", "secrets", check=False)
    assert allowed.stdout.strip() == "yes"


def test_controller_manager_gives_a_new_namespace_its_default_service_account(kube_cluster, namespace) -> None:
    wait_until(
        lambda: kube_cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0,
        60,
        "the default ServiceAccount",
    )


def _schedcp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schedcp_cli.main", *args], capture_output=True, text=True, check=False, timeout=300
    )


def test_detached_cluster_survives_its_cli_and_down_stops_every_process(tmp_path: Path) -> None:
    started = time.monotonic()
    up = _schedcp("dev", "cluster", "up", "--state-dir", str(tmp_path))
    print(f"warm `schedcp dev cluster up`: {time.monotonic() - started:.1f}s")
    assert up.returncode == 0, up.stderr
    info = ClusterInfo.model_validate_json((tmp_path / INFO_FILE).read_text())
    try:
        assert all(processes.alive(pid) for pid in info.pids.values())
        status = _schedcp("dev", "cluster", "status", "--state-dir", str(tmp_path))
        assert json.loads(status.stdout)["running"] == {name: True for name in info.pids}
    finally:
        down = _schedcp("dev", "cluster", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert not [name for name, pid in info.pids.items() if processes.alive(pid)]


def test_processes_of_a_killed_test_run_die_with_it(tmp_path: Path) -> None:
    """A fixture's cluster must not outlive a pytest that was SIGKILLed mid-run."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from schedcp_cli.devcluster.cluster import DevCluster
        DevCluster(Path({str(tmp_path / 'state')!r})).start()
        Path({str(tmp_path / 'started')!r}).touch()
        time.sleep(600)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists():
        assert owner.poll() is None and time.monotonic() < deadline, "cluster did not start"
        time.sleep(0.2)
    pids = ClusterInfo.model_validate_json((tmp_path / "state" / INFO_FILE).read_text()).pids
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 15
    while any(processes.alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, pid in pids.items() if processes.alive(pid)]
