"""Helm (built from its Go module) and releases of the chart applied to the real API server."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from schedcp_cli.components import wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devcluster.helmbuild import ensure_helm

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "schedcp"
VALUES_FILES = {"default": None, **{p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))}}

# A stand-in for the Prometheus Operator's CRD, just enough for the API server to store a
# ServiceMonitor: the chart's object is checked by kubectl's apply, not by its schema.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}


@pytest.fixture(scope="session")
def helm() -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = ensure_helm()

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def render(helm, release: str, namespace: str, values: Path | None, *extra: str) -> list[dict]:
    args = ["template", release, str(CHART), "--namespace", namespace, "--include-crds", *extra]
    if values is not None:
        args += ["--values", str(values)]
    return [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]


@dataclass
class Release:
    name: str
    namespace: str
    objects: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, suffix: str) -> dict:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"].endswith(suffix)]
        assert len(found) == 1, f"{kind} *{suffix}: {[o['metadata']['name'] for o in self.of_kind(kind)]}"
        return found[0]

    def service_account(self, component: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.named('ServiceAccount', component)['metadata']['name']}"


def apply(cluster: DevCluster, objects: list[dict], workdir: Path) -> None:
    """`kubectl apply --server-side`: really stored, not a dry run (CRDs are too large for
    the last-applied annotation of a client-side apply)."""
    path = workdir / f"apply-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=helm-chart-test", "-f", str(path))


def install(cluster: DevCluster, helm, namespace: str, values: Path | None, workdir: Path) -> Release:
    """What `helm install` does, in two steps: the chart's crds/ first, until established,
    then every rendered template."""
    release = f"r{namespace.removeprefix('t-')}"
    objects = render(helm, release, namespace, values)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    if any(o["kind"] == "ServiceMonitor" for o in objects):
        crds.append(SERVICE_MONITOR_CRD)
    apply(cluster, crds, workdir)
    for crd in crds:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    # Right after a CRD is established, discovery may lag for a moment.
    wait_until(lambda: _applied(cluster, rest, workdir), 30, f"release {release} applied")
    return Release(release, namespace, rest)


def _applied(cluster: DevCluster, objects: list[dict], workdir: Path) -> bool:
    try:
        apply(cluster, objects, workdir)
    except RuntimeError as error:
        if "no matches for kind" in str(error) or "ensure CRDs are installed" in str(error):
            return False
        raise
    return True


@pytest.fixture(scope="module")
def installed(kube_cluster: DevCluster, helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """The chart with its default values in a namespace of its own, for a whole module."""
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    kube_cluster.kubectl("create", "namespace", namespace)
    release = install(kube_cluster, helm, namespace, None, tmp_path_factory.mktemp("release"))
    yield release
    uninstall(kube_cluster, release)


def uninstall(cluster: DevCluster, release: Release) -> None:
    """Delete what the namespace's deletion leaves: cluster-scoped objects and the Events
    Role in `default`; the built-in templates stay, shared by every release."""
    for obj in release.objects:
        where = obj["metadata"].get("namespace")
        if where != release.namespace and obj["kind"] != "SchedulerTemplate":
            scope = ["-n", where] if where else []
            cluster.kubectl("delete", obj["kind"], obj["metadata"]["name"], *scope, "--wait=false", check=False)
    cluster.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)
