"""Runs inside the sched_ext micro-VM: the agent's pod profiles with the BCC tier on.

`python vm_tier2_scenario.py BCC_ROOT` makes two pod cgroups (a task that wakes every
millisecond, a task that spins), profiles them through PodProfiles with the collector
chrooted into BCC_ROOT, and reports the summaries as JSON lines on the result console.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.pod_profiles import PodProfiles
from schedcp_node_agent.tier2 import Tier2Profiler

PODS = {
    "waker": "import time\nwhile True: time.sleep(0.001)",
    "spinner": "while True: pass",
}


def report(event: str, **fields: object) -> None:
    with open("/dev/hvc0", "w") as console:
        console.write(json.dumps({"event": event, **fields}, default=str) + "\n")


def start_pods() -> tuple[list[dict], list[subprocess.Popen[bytes]]]:
    pods, processes = [], []
    for name, code in PODS.items():
        uid = str(uuid.uuid4())
        cgroup = Path("/sys/fs/cgroup/kubepods/burstable") / f"pod{uid}"
        cgroup.mkdir(parents=True)
        process = subprocess.Popen([sys.executable, "-c", code])
        (cgroup / "cgroup.procs").write_text(str(process.pid))
        processes.append(process)
        pods.append({"metadata": {"uid": uid, "name": name, "namespace": "vm"}, "status": {"qosClass": "Burstable"}})
    return pods, processes


def main() -> None:
    tier2 = Tier2Profiler(["chroot", sys.argv[1], "/usr/bin/python3"], interval_seconds=1.0, window_seconds=30)
    profiles = PodProfiles(HostPaths(root=Path("/")), rate_hz=2, window_seconds=30, tier2=tier2)
    started = time.monotonic()
    tier2.start()
    tier2.ready.wait(timeout=240)
    report("tier2-ready", ready=tier2.ready.is_set(), seconds=round(time.monotonic() - started, 1),
           failure=tier2.failure, tier=profiles.tier, reason=profiles.tier_reason)
    pods, processes = start_pods()
    try:
        profiles.update_pods(pods)
        for _ in range(12):
            profiles.sample()
            time.sleep(0.5)
        report("profiles", tier=profiles.tier, reason=profiles.tier_reason,
               pods={p.name: p.metrics.model_dump(exclude_none=True) for p in profiles.summaries()})
    finally:
        for process in processes:
            process.kill()
        tier2.stop()


if __name__ == "__main__":
    main()
