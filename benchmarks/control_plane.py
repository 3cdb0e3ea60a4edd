"""Control plane at scale: a SchedulerPolicy from applied to Active on N simulated nodes.

    python -m benchmarks.control_plane [--nodes 10,100] [--timeout 900]

Per node count, a fresh schedcp dev cluster (kube-apiserver, etcd, controller manager),
the operator as its own process, and N simulated node agents driven by one loop
(benchmarks/fleet.py): every node runs a web pod, ten also run a batch pod, every node
reports tier-1 profiles once a second. The policy is the tests' (latency objective,
offline designer, Auto mode) with rollout.maxUnavailable 100 and the shortest windows
the API allows. Measured: wall time from the create call to phase Active, the time the
policy first showed each phase on the way, and the operator's peak resident memory
(VmHWM). Verification of the chosen template is remembered on disk after its first run,
so only a cold cache adds a micro-VM boot to the first count. Results: stdout and
benchmarks/results/control_plane.md.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.reporting import markdown_table, write_result

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
POLICY = "web"
PHASES = ("Profiling", "Designing", "Canary", "RollingOut", "Active")


def policy_body(nodes: int) -> dict[str, Any]:
    from schedcp.api.v1alpha1.base import GROUP, VERSION

    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": POLICY},
        "spec": {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "batch"]}]},
            "objective": {"kind": "latency", "protect": {"matchLabels": {"app": "web"}}},
            "mode": "Auto", "designer": {"kind": "offline"}, "profiling": {"minSamples": 5},
            "rollout": {"canaryNodes": 1, "evaluationWindowSeconds": 10, "activationTimeoutSeconds": 120,
                        "maxUnavailable": min(100, max(1, nodes))},
        },
    }


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) / 1024 for key in ("VmRSS", "VmHWM")}


def measure(nodes: int, workdir: Path, timeout: float) -> dict[str, Any]:
    from kubernetes import client

    from benchmarks.fleet import Fleet
    from schedcp.api.v1alpha1.base import GROUP, VERSION
    from schedcp_cli.components import ComponentProcess, wait_until
    from schedcp_cli.devcluster.cluster import DevCluster
    from schedcp_cli.devcluster.ports import free_port

    cluster = DevCluster(workdir / "cluster")
    cluster.start()
    operator = fleet = None
    try:
        cluster.kubectl("apply", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        cluster.kubectl("create", "namespace", NAMESPACE)
        wait_until(lambda: cluster.kubectl("get", "sa", "default", "-n", NAMESPACE, check=False).returncode == 0,
                   60, "the default ServiceAccount")
        api = cluster.api_client()
        custom = client.CustomObjectsApi(api)
        started = time.monotonic()
        fleet = Fleet(api, NAMESPACE, nodes)
        setup = time.monotonic() - started
        # Every node has reported once before the clock starts: the target counts from the agents' reports.
        wait_until(lambda: len(fleet.turns) >= 2, 600, "two full status passes of the fleet")
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        operator = ComponentProcess("schedcp_operator", ["--standalone", "--liveness", liveness,
                                                         "--artifacts-namespace", NAMESPACE],
                                    cluster.kubeconfig, workdir / "operator.log")
        wait_until(lambda: healthy(liveness), 60, "the operator's liveness endpoint", operator.recent)
        applied = time.monotonic()
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "schedulerpolicies", policy_body(nodes))
        seen: dict[str, float] = {}
        peak = {"VmRSS": 0.0, "VmHWM": 0.0}
        status: dict[str, Any] = {}
        while time.monotonic() - applied < timeout:
            status = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "schedulerpolicies", POLICY).get("status", {})
            phase = status.get("phase")
            if phase:
                seen.setdefault(phase, time.monotonic() - applied)
            if operator.alive():
                peak = memory_mb(operator.process.pid)
            if phase in ("Active", "Failed", "RolledBack") or not operator.alive():
                break
            time.sleep(0.25)
        return {
            "nodes": nodes, "setup": setup, "phases": seen, "final": status.get("phase"),
            "counts": status.get("nodes", {}), "memory": peak, "fleet_turn": sorted(fleet.turns)[len(fleet.turns) // 2],
            "reason": next((c.get("message", "") for c in status.get("conditions", []) if c.get("status") == "False"), ""),
            "operator_alive": operator.alive(), "log": operator.recent(15),
        }
    finally:
        if fleet:
            fleet.close()
        if operator:
            operator.stop()
        cluster.stop()


def row(result: dict[str, Any]) -> list[Any]:
    phases = result["phases"]

    def at(phase: str) -> str:
        return f"{phases[phase]:.1f}" if phase in phases else "–"

    active = phases.get("Active")
    counts = result["counts"]
    verdict = "–" if active is None else ("met" if active <= 120 else "NOT met")
    memory = result["memory"]["VmHWM"]
    note = "" if active is not None else f"ended {result['final']}: {result['reason'][:160]}"
    return [result["nodes"], f"{active:.1f}" if active is not None else "not reached", *(at(p) for p in PHASES[:-1]),
            f"{counts.get('active', '–')}/{counts.get('targeted', '–')}", f"{memory:.0f}",
            f"{result['fleet_turn']:.2f}", f"{result['setup']:.0f}", verdict, note]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="10,100", help="comma-separated node counts, e.g. 10,100,1000")
    parser.add_argument("--timeout", type=float, default=900, help="seconds from apply to give up on Active")
    args = parser.parse_args()
    results = []
    for count in [int(n) for n in args.nodes.split(",") if n.strip()]:
        with tempfile.TemporaryDirectory(prefix="schedcp-bench-") as tmp:
            result = measure(count, Path(tmp), args.timeout)
        if "Active" not in result["phases"]:
            print(f"--- {count} nodes: not Active; the operator's last lines:\n{result['log']}")
        results.append(result)
    headers = ["nodes", "applied → Active s", *(f"first {p} s" for p in PHASES[:-1]), "nodes active/targeted",
               "operator peak RSS MB", "fleet status pass s (median)", "setup s", "target ≤ 120 s", "note"]
    text = ("Control plane: a SchedulerPolicy (offline designer, Auto, maxUnavailable 100, 10 s evaluation window) "
            "from the create call to phase Active, on the real API server with simulated node agents reporting "
            "once a second (one loop for all nodes). Phase columns: seconds after the create call when the policy "
            "first showed that phase (a phase shorter than the 0.25 s poll may not show). Targets: Active within "
            "2 min of agent reports on 100 nodes; operator memory under 200 MB with 1000 NodeSchedulerStates.\n\n"
            + markdown_table(headers, [row(r) for r in results]))
    print(text)
    print(f"\nwritten: {write_result('control_plane.md', text)}")


if __name__ == "__main__":
    main()
