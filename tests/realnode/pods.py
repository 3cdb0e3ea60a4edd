"""Pods on the real node, through the dev cluster's kubectl."""

from __future__ import annotations

import json
import subprocess
import uuid

from schedcp_cli.components import wait_until
from schedcp_cli.devcluster.cluster import DevCluster

POD_START_SECONDS = 120


def run_pod(cluster: DevCluster, image: str, command: list[str], *, restart: str = "Never") -> dict:
    name = f"p-{uuid.uuid4().hex[:8]}"
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"restartPolicy": restart, "automountServiceAccountToken": True,
                 "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}]},
    }
    subprocess.run([str(cluster.info.kubectl), f"--kubeconfig={cluster.kubeconfig}", "apply", "-f", "-"],  # type: ignore[union-attr]
                   input=json.dumps(pod), text=True, check=True, capture_output=True)
    return pod


def get_pod(cluster: DevCluster, name: str) -> dict:
    return json.loads(cluster.kubectl("get", "pod", name, "-n", "default", "-o", "json").stdout)


def wait_phase(cluster: DevCluster, name: str, *phases: str) -> dict:
    wait_until(lambda: get_pod(cluster, name).get("status", {}).get("phase") in phases, POD_START_SECONDS, f"pod {name} {phases}")
    return get_pod(cluster, name)


def default_service_account(cluster: DevCluster) -> None:
    wait_until(lambda: cluster.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 60, "default SA")
