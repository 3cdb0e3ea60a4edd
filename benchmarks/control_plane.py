"""Control plane at scale: SchedulerPolicies from applied to Active on N simulated nodes.

    python -m benchmarks.control_plane [--nodes 10,100] [--policies 1,10] [--timeout 900]

Per node count and policy count, a fresh schedcp dev cluster (kube-apiserver, etcd,
controller manager), the operator as its own process, and N simulated node agents driven
by one loop (benchmarks/fleet.py): every node runs a web pod, one in ten also a batch
pod; every node renews its Lease every 10 s and writes tier-1 profiles when a real agent
would (at once on a change, every 10 s for a window after one, else at the 5 min
refresh). With P policies, policy i selects the
pods of the nodes in group i (node n is in group n mod P), so no two want one node. The
policies are the tests' (latency objective, offline designer, Auto mode) with
rollout.maxUnavailable 100 and the shortest windows the API allows. Measured: wall time
from the create calls to every policy Active, the time by which every policy had shown
each phase on the way, the operator's CPU seconds (its design processes included) and
peak resident memory (VmHWM), and its reads (GET and LIST) from the API server's audit
log, which names each read's client: until Active, and over a quiet window afterwards in
which the agents only renew their Leases (with the biggest other readers of that window,
for scale). Verification of the chosen
template is remembered on disk after its first run, so only a cold cache adds a
micro-VM boot to the first count. Results: stdout and benchmarks/results/control_plane.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.reporting import markdown_table, write_result

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
PHASES = ("Profiling", "Designing", "Canary", "RollingOut", "Active")
QUIET_SECONDS = 30.0
OLD_STEP_SECONDS = 2.0  # the per-policy timer of the operator before watches: reads are shown per its period
# What the operator reads; the fleet lists nodeschedulerstates and this benchmark lists schedulerpolicies.


def policy_body(name: str, group: str, nodes: int) -> dict[str, Any]:
    from schedcp.api.v1alpha1.base import GROUP, VERSION

    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "SchedulerPolicy", "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchLabels": {"group": group},
                            "matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "batch"]}]},
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


def cpu_seconds(pid: int) -> float:
    """User and system time of the process and of its children that have exited."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Watch:
    """The benchmark's view of the policies: one LIST per poll, every phase's first sighting."""

    def __init__(self, api: Any, names: list[str]) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api)
        self.names = names
        self.seen: dict[str, dict[str, float]] = {n: {} for n in names}
        self.statuses: dict[str, dict[str, Any]] = {}

    def poll(self, since: float) -> None:
        from schedcp.api.v1alpha1.base import GROUP, VERSION

        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "schedulerpolicies")["items"]
        self.statuses = {o["metadata"]["name"]: o.get("status", {}) for o in listed}
        for name, status in self.statuses.items():
            if phase := status.get("phase"):
                self.seen[name].setdefault(phase, time.monotonic() - since)

    def phases(self) -> set[str | None]:
        return {self.statuses.get(n, {}).get("phase") for n in self.names}

    def ended(self) -> bool:
        # NoImprovement: the design's verification found nothing better than the kernel's default.
        return bool(self.phases() & {"Failed", "RolledBack", "NoImprovement"}) or self.phases() == {"Active"}

    def all_reached(self, phase: str) -> float | None:
        times = [self.seen[n].get(phase) for n in self.names]
        return None if None in times else max(t for t in times if t is not None)


def measure(nodes: int, policies: int, workdir: Path, timeout: float) -> dict[str, Any]:
    from kubernetes import client

    from benchmarks.api_requests import AuditedReads, operator_reads, others
    from benchmarks.fleet import Fleet
    from schedcp.api.v1alpha1.base import GROUP, VERSION
    from schedcp_cli.components import ComponentProcess, wait_until
    from schedcp_cli.devcluster.cluster import DevCluster
    from schedcp_cli.devcluster.ports import free_port

    cluster = DevCluster(workdir / "cluster", audit_reads=True)
    audit = AuditedReads(cluster.audit_log)
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
        fleet = Fleet(api, NAMESPACE, nodes, groups=policies)
        setup = time.monotonic() - started
        # Every node has reported once before the clock starts: the target counts from the agents' reports.
        wait_until(lambda: len(fleet.turns) >= fleet.passes_per_heartbeat(), 600, "every node's first report")
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        operator = ComponentProcess("schedcp_operator", ["--standalone", "--liveness", liveness,
                                                         "--artifacts-namespace", NAMESPACE],
                                    cluster.kubeconfig, workdir / "operator.log")
        wait_until(lambda: healthy(liveness), 60, "the operator's liveness endpoint", operator.recent)
        pid = operator.process.pid
        cpu_start, mark_start = cpu_seconds(pid), audit.mark()
        names = [f"web-{i}" for i in range(policies)]
        applied = time.monotonic()
        for i, name in enumerate(names):
            custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "schedulerpolicies",
                                                   policy_body(name, f"g{i}", nodes))
        watch = Watch(api, names)
        peak = {"VmRSS": 0.0, "VmHWM": 0.0}
        while time.monotonic() - applied < timeout and operator.alive():
            watch.poll(applied)
            peak = memory_mb(pid)
            if watch.ended():
                break
            time.sleep(0.25)

        active_reads, cpu_active = operator_reads(audit.since(mark_start)), cpu_seconds(pid) - cpu_start
        quiet = None
        if watch.phases() == {"Active"}:
            mark, cpu = audit.mark(), cpu_seconds(pid)
            time.sleep(QUIET_SECONDS)
            read = audit.since(mark)
            quiet = {"reads": operator_reads(read), "cpu": cpu_seconds(pid) - cpu, "others": others(read)}
            peak = memory_mb(pid)
        first = watch.statuses.get(names[0], {})
        return {
            "nodes": nodes, "policies": policies, "setup": setup,
            "phases": {p: t for p in PHASES if (t := watch.all_reached(p)) is not None},
            "final": sorted(str(p) for p in watch.phases()), "counts": first.get("nodes", {}), "memory": peak,
            "fleet_turn": sorted(fleet.turns)[len(fleet.turns) // 2], "cpu": cpu_active, "reads": active_reads,
            "quiet": quiet,
            "reason": next((c.get("message", "") for c in first.get("conditions", []) if c.get("status") == "False"), ""),
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
    verdict = "–" if active is None else ("met" if active <= 180 else "NOT met")
    quiet = result["quiet"]
    per_step = "–" if quiet is None else \
        f"{quiet['reads'] / (result['policies'] * QUIET_SECONDS / OLD_STEP_SECONDS):.2f}"
    note = f"quiet reads by others: {quiet['others']}" if quiet else \
        "" if active is not None else f"ended {'/'.join(result['final'])}: {result['reason'][:160]}"
    return [result["nodes"], result["policies"], f"{active:.1f}" if active is not None else "not reached",
            *(at(p) for p in PHASES[:-1]), f"{counts.get('active', '–')}/{counts.get('targeted', '–')}",
            f"{result['cpu']:.0f}", f"{result['memory']['VmHWM']:.0f}", result["reads"],
            "–" if quiet is None else quiet["reads"], per_step, "–" if quiet is None else f"{quiet['cpu']:.1f}",
            f"{result['fleet_turn']:.2f}", f"{result['setup']:.0f}", verdict, note]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="10,100", help="comma-separated node counts, e.g. 10,100,1000")
    parser.add_argument("--policies", default="1", help="comma-separated policy counts, e.g. 1,10")
    parser.add_argument("--timeout", type=float, default=900, help="seconds from apply to give up on Active")
    parser.add_argument("--label", default="", help="what code was measured, for the results file")
    args = parser.parse_args()
    results = []
    for count in [int(n) for n in args.nodes.split(",") if n.strip()]:
        for policies in [int(n) for n in args.policies.split(",") if n.strip()]:
            with tempfile.TemporaryDirectory(prefix="schedcp-bench-") as tmp:
                result = measure(count, policies, Path(tmp), args.timeout)
            if "Active" not in result["phases"]:
                print(f"--- {count} nodes, {policies} policies: not Active; the operator's last lines:\n{result['log']}")
            print(markdown_table(HEADERS, [row(result)]), flush=True)
            results.append(result)
    command = "python -m benchmarks.control_plane " + " ".join(sys.argv[1:])
    text = (f"Control plane{f' ({args.label})' if args.label else ''}, {date.today().isoformat()}: `{command}`\n\n"
            "SchedulerPolicies (offline designer, Auto, maxUnavailable 100, 10 s evaluation window), each on its "
            "own part of the fleet, from the create calls to all Active, on the real API server with simulated node "
            "agents reporting as real agents do (a Lease renewed every 10 s; the status at once on a change, every 10 s "
            "for a window after one, else at the 5 min refresh; one loop for all nodes). "
            "Phase columns: seconds after the create calls by which every policy had shown that phase (a phase "
            "shorter than the 0.25 s poll may not show). "
            "CPU: the operator's user+system seconds until Active (design processes included). Reads: the "
            f"operator's GETs and LISTs (kopf's and its own, from the audit log) until Active, and over "
            f"{QUIET_SECONDS:.0f} s after it in which the agents only renew their Leases (per policy per 2 s: "
            "what the old per-policy timer's period would see). "
            "Targets: all Active within 3 min of agent reports at 1000 nodes and 10 policies; operator memory "
            "under 200 MB with 1000 NodeSchedulerStates; quiet reads flat in the number of policies.\n\n"
            + markdown_table(HEADERS, [row(r) for r in results]))
    print(text)
    print(f"\nwritten: {write_result('control_plane.md', text)}")


HEADERS = ["nodes", "policies", "applied → all Active s", *(f"all {p} s" for p in PHASES[:-1]),
           "first policy's nodes active/targeted", "operator CPU s", "operator peak RSS MB", "reads until Active",
           f"reads in {QUIET_SECONDS:.0f} s quiet", "quiet reads per policy per 2 s", "CPU s in quiet",
           "fleet status pass s (median)", "setup s", "target ≤ 180 s", "note"]


if __name__ == "__main__":
    main()
