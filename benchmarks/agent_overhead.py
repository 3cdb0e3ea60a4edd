"""What the node agent costs a node: CPU and memory with N pods profiled at R Hz.

    python -m benchmarks.agent_overhead [--pods 100] [--hz 1] [--seconds 60]

A real control plane (schedcp dev cluster), N pod objects bound to one node, N pod
cgroups on this host with a real process of T threads in each, and the agent as its
own process. The agent's CPU time comes from /proc/<pid>/stat over the measured
window (after a warm-up), its memory from /proc/<pid>/status; the profiler's own pass
time from the agent's Prometheus histogram.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp_cli.components import ComponentProcess, wait_until
from schedcp_cli.devcluster.cluster import DevCluster
from schedcp_cli.devcluster.ports import free_port
from schedcp_cli.host_pods import HostPods, writable_reason
from schedcp_node_agent.pod_cgroups import detect_hierarchies

REPO = Path(__file__).resolve().parents[1]
NODE = "bench-node"
SLEEPER = "import threading, time\n[threading.Thread(target=time.sleep, args=(1e6,)).start() for _ in range({threads})]\ntime.sleep(1e6)"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}


def histogram_mean(metrics_text: str, name: str) -> float | None:
    total = re.search(rf"^{name}_sum (\S+)$", metrics_text, re.M)
    count = re.search(rf"^{name}_count (\S+)$", metrics_text, re.M)
    return float(total.group(1)) / float(count.group(1)) if total and count and float(count.group(1)) else None


def create_pods(cluster: DevCluster, host: HostPods, pods: int, threads: int) -> None:
    core = client.CoreV1Api(cluster.api_client())
    # The controller manager deletes pods bound to a node that does not exist (pod GC).
    core.create_node({"metadata": {"name": NODE}})
    cluster.kubectl("create", "namespace", "bench")
    wait_until(lambda: cluster.kubectl("get", "sa", "default", "-n", "bench", check=False).returncode == 0, 30, "ServiceAccount")
    for index in range(pods):
        pod = core.create_namespaced_pod("bench", {
            "metadata": {"name": f"pod-{index}"},
            "spec": {"nodeName": NODE, "automountServiceAccountToken": False,
                     "containers": [{"name": "main", "image": "none", "resources": {"requests": {"cpu": "10m"}}}]},
        })
        host.spawn(host.pod(pod.metadata.uid), [sys.executable, "-c", SLEEPER.format(threads=threads - 1)])


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    cluster = DevCluster(workdir / "cluster")
    cluster.start()
    hierarchies = detect_hierarchies()
    if reason := writable_reason(hierarchies):
        raise SystemExit(reason)
    host = HostPods(hierarchies)
    agent = None
    try:
        cluster.kubectl("apply", "-f", str(REPO / "crds"))
        create_pods(cluster, host, args.pods, args.threads)
        port = free_port()
        agent = ComponentProcess("schedcp_node_agent", [
            "--node-name", NODE, "--state-dir", str(workdir / "state"), "--profile-hz", str(args.hz),
            "--metrics-address", "127.0.0.1", "--metrics-port", str(port),
        ], cluster.kubeconfig, workdir / "agent.log")
        custom = client.CustomObjectsApi(cluster.api_client())

        def profiled() -> int:
            try:
                obj = custom.get_cluster_custom_object(GROUP, VERSION, "nodeschedulerstates", NODE)
            except client.ApiException:
                return 0
            return len(obj.get("status", {}).get("profiling", {}).get("pods", []))

        wait_until(lambda: profiled() == args.pods, 120, f"{args.pods} pods profiled", agent.recent)
        time.sleep(args.warmup)
        pid = agent.process.pid
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        # Read the status every second: the profile must stay complete all along.
        seen = []
        while time.monotonic() - wall_before < args.seconds:
            time.sleep(1)
            seen.append(profiled())
        cpu_used, wall = cpu_seconds(pid) - cpu_before, time.monotonic() - wall_before
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            metrics_text = reply.read().decode()
        return {
            "cpu_percent_of_core": 100 * cpu_used / wall,
            **memory_mb(pid),
            "sample_ms": 1000 * (histogram_mean(metrics_text, "schedcp_agent_profile_sample_seconds") or 0),
            "pods_in_status_min": min(seen)
        }
    finally:
        if agent:
            agent.stop()
        host.close()
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--threads", type=int, default=5, help="threads per pod process")
    parser.add_argument("--hz", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="schedcp-bench-") as tmp:
        result = measure(args, Path(tmp))
    print(f"\nnode agent overhead: {args.pods} pods x {args.threads} threads, profiled at {args.hz:g} Hz, "
          f"{args.seconds:g}s measured after {args.warmup:g}s warm-up")
    print(f"{'measure':28} {'value':>10}  target")
    print(f"{'CPU (% of one core)':28} {result['cpu_percent_of_core']:>10.2f}  < 2")
    print(f"{'RSS (MB)':28} {result['VmRSS']:>10.1f}  < 100")
    print(f"{'peak RSS (MB)':28} {result['VmHWM']:>10.1f}  < 100")
    print(f"{'profiling pass (ms, mean)':28} {result['sample_ms']:>10.2f}")
    print(f"{'pods in status (minimum)':28} {result['pods_in_status_min']:>10}  {args.pods}")


if __name__ == "__main__":
    main()
