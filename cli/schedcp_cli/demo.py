"""`schedcp demo`: the whole loop on one machine, on embedded defaults.

A fresh local control plane with the CRDs, the operator as a process (offline planner),
and one node that is a micro-VM with a sched_ext kernel: the real node agent runs in it,
next to two pods' real processes (a wake-heavy web server stand-in and a CPU-bound batch
job) in kubelet-style pod cgroups. The example policy is applied, designed, verified,
approved like a person would, canaried on the VM node and evaluated; the demo ends by
printing the policy's status and the web pod's metrics before and after.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import yaml
from kubernetes import client

from schedcp import kube
from schedcp.building import workload_binaries
from schedcp.microvm.accel import Timing
from schedcp_cli.components import ComponentProcess, wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devcluster.ports import free_port
from schedcp_cli.vm_node import VmNode

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "schedcp-demo"
SYSTEM_NAMESPACE = "schedcp-system"
NODE = "vm-node-1"
SETTLED = ("Active", "RolledBack", "Failed", "Invalid", "NoImprovement")
WORKLOAD_SECONDS = 1800
# What each pod runs: a thread that sleeps 5 ms and measures how late it wakes (a line of
# percentiles every INTERVAL_MS, naming the scheduler attached), and two CPU-bound threads
# that keep the VM's CPU busy.
INTERVAL_MS = 2000
# One vCPU whose clock counts instructions while it runs: the host's load (TCG shares the
# host's two cores with the control plane) then does not enter the web pod's latencies.
NODE_TIMING = Timing.COUNTED_NODE
PODS = {"web": ("wakeup_latency", [str(WORKLOAD_SECONDS * 1000), "1", "0", "5000", str(INTERVAL_MS)]),
        "batch": ("cpu_batch", [str(WORKLOAD_SECONDS * 1000), "2"])}
SHOWN_METRICS = ("runDelayP50Micros", "runDelayP99Micros", "runDelayPerSecondMicros", "cpuCores",
                 "voluntarySwitchesPerSecond", "samples")


def _step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, workdir: Path, policy_file: Path) -> None:
        self.workdir = workdir
        self.policy_file = policy_file
        self.policy = yaml.safe_load(policy_file.read_text())
        self.name = self.policy["metadata"]["name"]
        self.cluster = DevCluster(workdir / "control-plane")
        self.operator: ComponentProcess | None = None
        self.node: VmNode | None = None
        self.uids: dict[str, str] = {}

    def run(self) -> int:
        started = time.monotonic()
        _step("starting the local control plane (etcd, kube-apiserver, kube-controller-manager)")
        info = self.cluster.start()
        try:
            print(f"API server {info.server}; kubeconfig {info.kubeconfig}")
            self._install()
            self._start_node()
            body = self._apply_and_follow()
            self._report(body)
            print(f"\ndemo finished in {time.monotonic() - started:.1f}s; logs in {self.workdir}")
            return 0 if body["status"]["phase"] == "Active" else 1
        finally:
            for part in (self.node, self.operator):
                if part:
                    part.stop()
            self.cluster.stop()

    def _install(self) -> None:
        _step("installing the CRDs and starting the operator")
        self._show("apply", "-f", str(REPO / "crds"))
        self.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        for namespace in (SYSTEM_NAMESPACE, NAMESPACE):
            self.cluster.kubectl("create", "namespace", namespace)
        # Pods are refused until the controller-manager has made the namespace's default account.
        wait_until(lambda: self.cluster.kubectl("get", "serviceaccount", "default", "-n", NAMESPACE,
                                                check=False).returncode == 0, 60, "the default service account")
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        self.operator = ComponentProcess(
            "schedcp_operator", ["--standalone", "--liveness", liveness, "--artifacts-namespace", SYSTEM_NAMESPACE],
            self.cluster.kubeconfig, self.workdir / "operator.log")

    def _start_node(self) -> None:
        _step(f"booting node {NODE}: a micro-VM with a sched_ext kernel, the node agent and two pods")
        core = client.CoreV1Api(self.cluster.api_client())
        core.create_node(client.V1Node.model_validate({"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}}}))
        binaries = workload_binaries()
        pods: dict[str, list[str]] = {}
        for app, (program, args) in PODS.items():
            pod = core.create_namespaced_pod(NAMESPACE, client.V1Pod.model_validate({
                "metadata": {"name": app, "labels": {"app": app}},
                # A request without a limit makes the pod Burstable, the QoS class whose
                # cgroup the VM node puts the pod's process in.
                "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}], "automountServiceAccountToken": False,
                         "containers": [{"name": app, "image": f"schedcp.local/{program}",
                                         "resources": {"requests": {"cpu": "100m"}}}]}}))
            pods[kube.uid(pod)] = [str(binaries[program]), *args]
            self.uids[app] = kube.uid(pod)
            print(f"pod {NAMESPACE}/{app} ({kube.uid(pod)}) runs {program} {' '.join(args)}")
        info = self.cluster.info
        assert info is not None
        self.node = VmNode(NODE, info.kubeconfig, info.server, self.workdir / "vm-node", namespace=SYSTEM_NAMESPACE,
                           status_interval=2, extra_args="--window-seconds 15", pods=pods, timing=NODE_TIMING)
        wait_until(lambda: self._node_status().get("kernel"), 420, "the VM node's first report", self.node.vm.console)
        self._show("get", "nodeschedulerstates", "-o", "wide")

    def _apply_and_follow(self) -> dict[str, Any]:
        assert self.operator and self.node
        _step(f"applying {self.policy_file.relative_to(REPO) if self.policy_file.is_relative_to(REPO) else self.policy_file}")
        self._show("apply", "-n", NAMESPACE, "-f", str(self.policy_file))
        last = ""
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            body = self._policy()
            status = body.get("status", {})
            ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
            line = f"phase {status.get('phase')}: {ready.get('reason', '')} {ready.get('message', '')}".strip()
            if line != last:
                print(f"  {time.strftime('%H:%M:%S')} {line}", flush=True)
                last = line
            if status.get("phase") == "Recommended" and not body["spec"].get("approvedRevision"):
                self._approve(status["revision"]["name"])
            if status.get("phase") in SETTLED:
                return body
            if not self.operator.alive():
                raise RuntimeError(f"the operator exited:\n{self.operator.recent()}")
            time.sleep(1)
        raise TimeoutError(f"policy {self.name} did not settle; last: {last}\n{self.operator.recent()}")

    def _approve(self, revision: str) -> None:
        _step(f"approving revision {revision} (what a person does after reading the recommendation)")
        patch = json.dumps({"spec": {"approvedRevision": revision}})
        self._show("patch", "schedulerpolicy", self.name, "-n", NAMESPACE, "--type=merge", "-p", patch)

    def _report(self, body: dict[str, Any]) -> None:
        _step("kubectl get schedulerpolicies,schedulerrevisions,nodeschedulerstates")
        self._show("get", "schedulerpolicies", "-n", NAMESPACE, "-o", "wide")
        self._show("get", "schedulerrevisions")
        self._show("get", "nodeschedulerstates", "-o", "wide")
        active = self._node_status().get("active", {})
        print(f"\nthe VM node's kernel reports sched_ext {active.get('state')} with ops {active.get('ops')!r}")
        _step("status written by the operator")
        shown = {k: v for k, v in body["status"].items() if k not in ("metricsBefore", "metricsAfter")}
        print(json.dumps(shown, indent=2))
        _step("the protected (web) pod before and after")
        print(metrics_table(body["status"].get("metricsBefore") or {}, body["status"].get("metricsAfter") or {}))
        assert self.node
        _step(f"the web pod's own measure, per wakeup: percentiles of each {INTERVAL_MS / 1000:g}-s interval, "
              "by the scheduler attached throughout it")
        intervals = [r["output"] for r in self.node.vm.reports()
                     if r.get("event") == "pod-output" and r.get("pod") == self.uids["web"]]
        print(wakeup_table(intervals))
        _step("events")
        self._show("get", "events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={self.name}",
                   "--sort-by=.lastTimestamp")

    def _policy(self) -> dict[str, Any]:
        got = self.cluster.kubectl("get", "schedulerpolicy", self.name, "-n", NAMESPACE, "-o", "json", check=False)
        return json.loads(got.stdout) if got.returncode == 0 else {}

    def _node_status(self) -> dict[str, Any]:
        got = self.cluster.kubectl("get", "nodeschedulerstate", NODE, "-o", "json", check=False)
        return json.loads(got.stdout).get("status", {}) if got.returncode == 0 else {}

    def _show(self, *args: str) -> None:
        print(self.cluster.kubectl(*args).stdout.rstrip(), flush=True)


def metrics_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    rows = [f"| {'metric':<28} | {'before':>10} | {'after':>10} |", f"|{'-' * 30}|{'-' * 12}|{'-' * 12}|"]
    for key in SHOWN_METRICS:
        old, new = before.get(key), after.get(key)
        rows.append(f"| {key:<28} | {_cell(old):>10} | {_cell(new):>10} |")
    return "\n".join(rows)


def wakeup_table(intervals: list[dict[str, Any]]) -> str:
    """Per scheduler, the median over its intervals of each interval's p50 and p99 wakeup
    latency; an interval in which the scheduler changed belongs to neither."""
    by_ops: dict[str, list[dict[str, Any]]] = {}
    for interval in intervals:
        if interval.get("ops_before") == interval.get("ops_after") and interval.get("samples"):
            by_ops.setdefault(interval["ops_after"] or "EEVDF (kernel default)", []).append(interval)
    rows = [f"| {'scheduler':<24} | {'intervals':>9} | {'wakeups':>8} | {'p50 µs':>8} | {'p99 µs':>8} | {'worst p99':>9} |",
            f"|{'-' * 26}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 11}|"]
    for ops, chunk in by_ops.items():
        p50, p99 = (median(i[key] for i in chunk) for key in ("p50_us", "p99_us"))
        rows.append(f"| {ops:<24} | {len(chunk):>9} | {sum(i['samples'] for i in chunk):>8} | {p50:>8.0f} | "
                    f"{p99:>8.0f} | {max(i['p99_us'] for i in chunk):>9.0f} |")
    return "\n".join(rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="schedcp-demo-"))
    return Demo(workdir, args.policy.resolve()).run()


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="run the whole loop locally on embedded defaults")
    demo.add_argument("--policy", type=Path, default=REPO / "examples" / "vm-node-demo.yaml")
    demo.set_defaults(func=_main)
