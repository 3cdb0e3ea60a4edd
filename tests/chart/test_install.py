"""`helm template` output, with each values file, is stored by the real API server: CRDs
established, workloads, RBAC and the admission policy accepted, operator pods admitted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from schedcp.api.v1alpha1.template import TemplateSource
from schedcp_cli.components import wait_until
from tests.chart.conftest import CHART, VALUES_FILES, install, uninstall

pytestmark = pytest.mark.cluster


def _get(cluster, kind: str, name: str, namespace: str | None = None) -> dict:
    scope = ["-n", namespace] if namespace else []
    return json.loads(cluster.kubectl("get", kind, name, *scope, "-o", "json").stdout)


@pytest.mark.parametrize("values", VALUES_FILES.values(), ids=VALUES_FILES.keys())
def test_rendered_chart_is_accepted_by_the_api_server(kube_cluster, helm, namespace, tmp_path, values: Path | None) -> None:
    release = install(kube_cluster, helm, namespace, values, tmp_path)
    try:
        for obj in release.objects:
            meta = obj["metadata"]
            stored = _get(kube_cluster, obj["kind"], meta["name"], meta.get("namespace"))
            assert stored["metadata"]["uid"], f"{obj['kind']} {meta['name']} not stored"

        deployment = release.of_kind("Deployment")[0]
        replicas = deployment["spec"]["replicas"]
        # The ReplicaSet controller's pods pass pod validation and admission (Pod Security,
        # service account): they stay Pending, as no kubelet runs here.
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        wait_until(
            lambda: len(json.loads(kube_cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
                                   .stdout)["items"]) == replicas,
            60, f"{replicas} operator pods",
            lambda: kube_cluster.kubectl("get", "events", "-n", namespace, check=False).stdout,
        )
        daemonset = _get(kube_cluster, "daemonset", release.of_kind("DaemonSet")[0]["metadata"]["name"], namespace)
        assert daemonset["spec"]["template"]["spec"]["hostPID"] is True
    finally:
        uninstall(kube_cluster, release)


def test_every_chart_crd_is_established(kube_cluster, installed) -> None:
    names = kube_cluster.kubectl("get", "crd", "-o", "name").stdout.split()
    for crd in ("schedulerpolicies.schedcp.io", "schedulertemplates.schedcp.io", "schedulerrevisions.schedcp.io",
                "nodeschedulerstates.schedcp.io", "clusterkopfpeerings.kopf.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in names
        conditions = {c["type"]: c["status"] for c in _get(kube_cluster, "crd", crd)["status"]["conditions"]}
        assert conditions.get("Established") == "True", crd


def test_builtin_templates_are_stored_with_their_source_intact(kube_cluster, installed) -> None:
    for obj in installed.of_kind("SchedulerTemplate"):
        stored = _get(kube_cluster, "schedulertemplates.schedcp.io", obj["metadata"]["name"])
        source = TemplateSource.model_validate(stored["spec"]["source"])
        assert hashlib.sha256(source.text().encode()).hexdigest() == source.sha256
        assert stored["spec"]["origin"] == "BuiltIn"


def test_agent_pod_template_holds_listed_capabilities_not_privilege(installed) -> None:
    pod = installed.of_kind("DaemonSet")[0]["spec"]["template"]["spec"]
    context = pod["containers"][0]["securityContext"]
    assert "privileged" not in context
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON", "SYS_ADMIN"]}
    assert context["readOnlyRootFilesystem"] is True
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["host-bpffs"]["mountPropagation"] == "HostToContainer"
    assert all(mounts[name].get("readOnly") for name in ("host-proc", "host-sys", "host-cgroup", "host-btf"))


def test_helm_installs_and_uninstalls_a_release(kube_cluster, helm, namespace) -> None:
    """The real `helm install` against the API server (templates off: other tests' releases
    own the cluster-wide built-in templates)."""
    release = f"h{namespace.removeprefix('t-')}"
    access = ["--kubeconfig", str(kube_cluster.kubeconfig), "--namespace", namespace]
    helm("install", release, str(CHART), *access, "--set", "builtinTemplates.enabled=false")
    status = json.loads(helm("status", release, *access, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    assert "pod-security.kubernetes.io/enforce=privileged" in status["info"]["notes"]
    _get(kube_cluster, "deployment", f"{release}-schedcp-operator", namespace)
    _get(kube_cluster, "clusterrole", f"{release}-schedcp-node-agent")
    helm("uninstall", release, *access, "--wait")
    gone = kube_cluster.kubectl("get", "clusterrole", f"{release}-schedcp-node-agent", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
