"""Runs inside the sched_ext micro-VM (host tree at /, guest kernel): the applier with an scx
binary for real.

`first OBJECTS STATE SCX_DIR` loads fifo (known-good after a moment), then scx_bpfland with
non-default flags as a child process, kills that process (an ejection: back to fifo), loads
scx_bpfland with other flags and ends without stopping it, as a crashed agent would;
`second` is the restarted agent: it stops the child left behind before anything else, loads
the spec's binary again, then the kernel default. One JSON line per step on the console.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateSpec
from schedcp_node_agent.applier import Applier, HealthPolicy
from schedcp_node_agent.artifacts import DirectoryArtifacts
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.local_state import MemoryFile
from schedcp_node_agent.sched_ext import SchedExt
from schedcp_node_agent.scx_process import ScxSupervisor


def report(event: str, **fields: object) -> None:
    with open("/dev/hvc0", "w") as console:
        console.write(json.dumps({"event": event, **fields}, default=str) + "\n")


def spec_for(objects: Path, name: str | None) -> NodeSchedulerStateSpec:
    if name is None:
        return NodeSchedulerStateSpec()
    digest = hashlib.sha256((objects / f"{name}.bpf.o").read_bytes()).hexdigest()
    return NodeSchedulerStateSpec(desired_revision=RevisionReference(name=name, sha256=digest))


def child_of(applier: Applier) -> dict[str, object]:
    child = applier.scx.child
    if child is None:
        return {}
    cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")
    return {"pid": child.pid, "args": [a.decode() for a in cmdline[1:] if a]}


def step(applier: Applier, name: str, objects: Path, revision: str | None) -> None:
    verdict = applier.reconcile(spec_for(objects, revision))
    report(name, verdict=verdict.model_dump(mode="json"), active=applier.active().model_dump(mode="json"),
           child=child_of(applier))


def first(applier: Applier, objects: Path) -> None:
    applier.adopt()
    step(applier, "load-fifo", objects, "fifo")
    time.sleep(applier.policy.healthy_after_seconds + 0.2)
    step(applier, "fifo-known-good", objects, "fifo")
    step(applier, "load-bpfland-a", objects, "bpfland-a")
    if applier.scx.child is None:
        raise SystemExit("bpfland-a is not running")
    os.kill(applier.scx.child.pid, signal.SIGKILL)
    started, notices = time.monotonic(), []
    while not any(n.reason == "SchedulerEjected" for n in notices) and time.monotonic() - started < 10:
        notices += applier.check_health()
        time.sleep(0.05)
    report("killed", seconds=round(time.monotonic() - started, 2), notices=[n.model_dump() for n in notices],
           ejected=applier.memory.model_dump(mode="json")["ejected"].get("bpfland-a"), active=applier.active().model_dump(mode="json"))
    step(applier, "load-bpfland-b", objects, "bpfland-b")
    os._exit(0)  # as a crashed agent: no unload, the child keeps running


def second(applier: Applier, objects: Path) -> None:
    left = applier.scx.left_behind()
    notices = applier.adopt()
    old_alive = left is not None and Path(f"/proc/{left.pid}").exists() and \
        Path(f"/proc/{left.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    report("handed-over", left_pid=left.pid if left else None, old_alive=old_alive,
           notices=[n.model_dump() for n in notices], active=applier.active().model_dump(mode="json"))
    step(applier, "reload-bpfland-b", objects, "bpfland-b")
    step(applier, "kernel-default", objects, None)


def main() -> None:
    phase, objects, state, scx_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    kernel = SchedExt(HostPaths(root=Path("/"), state_dir=state), os.environ["GUEST_BPFTOOL"].split())
    policy = HealthPolicy(healthy_after_seconds=0.5 if phase == "first" else 3600.0, crash_loop_starts=5)
    applier = Applier(kernel, DirectoryArtifacts(objects), MemoryFile(state), policy, scx=ScxSupervisor(scx_dir, state))
    {"first": first, "second": second}[phase](applier, objects)


if __name__ == "__main__":
    main()
