"""Runs inside the sched_ext micro-VM (host tree at /, guest kernel): the applier for real.

`python vm_applier_scenario.py first OBJECTS STATE` walks the applier through a load,
a class-map sync, a digest mismatch, an object this kernel's verifier refuses at the
preflight, promotion to known-good and a stalling revision;
`second` is the restarted agent; `crash-looping` loads a new revision and `restarted`
is the start that makes three within the crash-loop window. Each step is one JSON line on the
VM's result console; the test on the host asserts on them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateSpec, PodClass, WorkloadClass
from schedcp_node_agent.applier import CLASS_MAP, Applier, HealthPolicy, Verdict
from schedcp_node_agent.artifacts import DirectoryArtifacts
from schedcp_node_agent.facts import gather_facts
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.local_state import MemoryFile
from schedcp_node_agent.sched_ext import SchedExt


def report(event: str, **fields: object) -> None:
    with open("/dev/hvc0", "w") as console:
        console.write(json.dumps({"event": event, **fields}, default=str) + "\n")


def reference(objects: Path, name: str, digest: str | None = None) -> RevisionReference:
    data = (objects / f"{name}.bpf.o").read_bytes()
    return RevisionReference(name=name, sha256=digest or hashlib.sha256(data).hexdigest())


def spec_for(revision: RevisionReference | None, classes: list[PodClass] | None = None) -> NodeSchedulerStateSpec:
    return NodeSchedulerStateSpec(desired_revision=revision, pod_classes=classes or [])


def step(applier: Applier, name: str, spec: NodeSchedulerStateSpec) -> Verdict:
    verdict = applier.reconcile(spec)
    report(name, verdict=verdict.model_dump(mode="json"), active=applier.active().model_dump(mode="json"))
    return verdict


def since_kernel_exit() -> float | None:
    """Seconds from the kernel's "disabled" record (its timestamp is CLOCK_MONOTONIC) to now."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    stamp = None
    try:
        while True:
            record = os.read(fd, 8192).decode(errors="replace")
            if "sched_ext: BPF scheduler" in record and "disabled" in record:
                stamp = int(record.split(";")[0].split(",")[2]) / 1e6
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return None if stamp is None else round(time.monotonic() - stamp, 3)


def first(applier: Applier, objects: Path) -> None:
    step(applier, "load-fifo", spec_for(reference(objects, "fifo")))
    latency = reference(objects, "latency-class")
    step(applier, "switch-latency-class", spec_for(latency))
    cgroup = Path("/sys/fs/cgroup/protected-pod")
    cgroup.mkdir(exist_ok=True)
    cgid = os.stat(cgroup).st_ino
    synced = applier.sync_classes({cgid: WorkloadClass.LATENCY})
    entries = applier.kernel.map_entries(applier.kernel.host.pin_root / "latency-class" / CLASS_MAP)
    report("classes", synced=synced, cgroup_id=cgid, entries={k.hex(): v.hex() for k, v in entries.items()})
    step(applier, "digest-mismatch", spec_for(reference(objects, "fifo", digest="0" * 64)))
    refused = step(applier, "preflight-refused", spec_for(reference(objects, "bad-memory")))
    report("preflight", preflight=applier.preflight.model_dump(mode="json") if applier.preflight else None,
           notices=[n.model_dump() for n in refused.notices], pins=sorted(p.name for p in applier.kernel.pinned()),
           facts=gather_facts(applier.kernel.host).model_dump(mode="json"))
    time.sleep(applier.policy.healthy_after_seconds + 0.2)
    step(applier, "promote", spec_for(latency))
    started = time.monotonic()
    # The watchdog fires 1.5 s after the load: during the reconcile or in a later health check.
    notices = list(step(applier, "load-stalling", spec_for(reference(objects, "stalling"))).notices)
    while not any(n.reason == "SchedulerEjected" for n in notices) and time.monotonic() - started < 10:
        notices += applier.check_health()
        time.sleep(0.1)
    report("ejected", seconds=round(time.monotonic() - started, 2), since_kernel_exit=since_kernel_exit(),
           notices=[n.model_dump() for n in notices],
           memory=applier.memory.model_dump(mode="json"), active=applier.active().model_dump(mode="json"))
    step(applier, "ejected-stays-out", spec_for(reference(objects, "stalling")))


def second(applier: Applier) -> None:
    before = applier.kernel.observe()
    notices = applier.adopt()
    report("adopted", notices=[n.model_dump() for n in notices], before=before.model_dump(mode="json"),
           active=applier.active().model_dump(mode="json"))


def crash_looping(applier: Applier, objects: Path) -> None:
    """Load a revision that is not yet known-good; the next start counts as a crash loop."""
    applier.adopt()
    step(applier, "load-before-crash-loop", spec_for(reference(objects, "fifo")))


def restarted(applier: Applier) -> None:
    notices = applier.adopt()
    report("crash-loop", notices=[n.model_dump() for n in notices], active=applier.active().model_dump(mode="json"))


def main() -> None:
    phase, objects, state = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    kernel = SchedExt(HostPaths(root=Path("/"), state_dir=state), os.environ["GUEST_BPFTOOL"].split())
    # Promotion after 1 s for the first phase; never during the crash-loop phases.
    healthy_after = 1.0 if phase == "first" else 3600.0
    policy = HealthPolicy(healthy_after_seconds=healthy_after, crash_loop_starts=3)
    applier = Applier(kernel, DirectoryArtifacts(objects), MemoryFile(state), policy)
    phases = {
        "first": lambda: (applier.adopt(), first(applier, objects)),
        "second": lambda: second(applier),
        "crash-looping": lambda: crash_looping(applier, objects),
        "restarted": lambda: restarted(applier),
    }
    phases[phase]()


if __name__ == "__main__":
    main()
