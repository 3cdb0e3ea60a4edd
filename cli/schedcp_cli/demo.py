"""`schedcp demo`: the whole product on one machine, on embedded defaults.

A fresh local control plane, the CRDs, the operator as a process, and an example policy;
it prints what a user would look at (`kubectl get`, the conditions, the Events) and
tears everything down. Each later stage of the loop joins here as it lands.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from schedcp_cli.components import ComponentProcess, wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devcluster.ports import free_port

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "schedcp-demo"


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _assessed(cluster: DevCluster, name: str) -> dict | None:
    got = cluster.kubectl("get", "schedulerpolicy", name, "-n", NAMESPACE, "-o", "json", check=False)
    if got.returncode != 0:
        return None
    body = json.loads(got.stdout)
    return body if body.get("status", {}).get("observedGeneration") == body["metadata"]["generation"] else None


def _show(cluster: DevCluster, *args: str) -> None:
    print(cluster.kubectl(*args).stdout.rstrip())


def run(workdir: Path, policy_file: Path) -> int:
    started = time.monotonic()
    _step("starting the local control plane (etcd, kube-apiserver, kube-controller-manager)")
    cluster = DevCluster(workdir / "control-plane")
    info = cluster.start()
    operator: ComponentProcess | None = None
    try:
        print(f"API server {info.server}; kubeconfig {info.kubeconfig}")
        _step("installing the CRDs")
        _show(cluster, "apply", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        _step("starting the operator")
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        operator = ComponentProcess(
            "schedcp_operator", ["--standalone", "--liveness", liveness], info.kubeconfig, workdir / "operator.log"
        )
        _step(f"applying {policy_file.relative_to(REPO) if policy_file.is_relative_to(REPO) else policy_file}")
        cluster.kubectl("create", "namespace", NAMESPACE)
        _show(cluster, "apply", "-n", NAMESPACE, "-f", str(policy_file))
        name = cluster.kubectl("get", "-f", str(policy_file), "-n", NAMESPACE, "-o", "name").stdout.strip().split("/")[-1]
        body = wait_until(lambda: _assessed(cluster, name), 60, "the operator's assessment", operator.recent)
        _step("kubectl get schedulerpolicies")
        _show(cluster, "get", "schedulerpolicies", "-n", NAMESPACE, "-o", "wide")
        _step("status written by the operator")
        print(json.dumps(body["status"], indent=2))
        _step("events")
        events = ("get", "events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={name}")
        # kopf posts Events in the background: give the first one a moment to arrive.
        wait_until(lambda: cluster.kubectl(*events).stdout.strip(), 30, "the policy's first Event", operator.recent)
        _show(cluster, *events)
        print(f"\ndemo finished in {time.monotonic() - started:.1f}s; logs in {workdir}")
        return 0
    finally:
        if operator:
            operator.stop()
        cluster.stop()


def _main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="schedcp-demo-"))
    return run(workdir, args.policy.resolve())


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="run the product locally on embedded defaults")
    demo.add_argument("--policy", type=Path, default=REPO / "examples" / "latency-web.yaml")
    demo.set_defaults(func=_main)
