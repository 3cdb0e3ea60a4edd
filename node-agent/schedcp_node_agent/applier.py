"""Make the kernel run what `NodeSchedulerState.spec` asks, and fall back when it fails.

One instance per agent process. `reconcile` moves the kernel toward the desired
revision; `check_health` (called several times a second) notices an ejection and
reverts to the last known-good revision or the kernel's default scheduler. Every
decision comes back as a `Verdict` (the `Applied` condition) and, when something
changed, `Notice`s that the agent posts as Events.

A revision is a BPF object (loaded with bpftool, its link pinned) or an scx binary (run as
a supervised child process, scx_process.py); both get the same health watch, ejection
handling, known-good fallback and revert. For a binary, the process exiting is an ejection
as much as the kernel disabling it.

A BPF object is preflighted before anything is unloaded for it: loaded on this node's
kernel without attaching (sched_ext.py), so the kernel verifier of this very kernel judges
it, whichever kernels the verifier proved it on. What fails is never attached, the running
scheduler stays, and the verdict (kept for the process's life: the kernel does not change
under it) goes into the status for the operator's circuit breaker.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from schedcp.api.v1alpha1.base import ConditionStatus, RevisionReference, now
from schedcp.api.v1alpha1.nodestate import ActiveScheduler, Ejection, NodeSchedulerStateSpec, Preflight, WorkloadClass
from schedcp.api.v1alpha1.template import BinarySource, parse_binary
from schedcp.verifying.execution import DECISIVE, decisive_verifier_lines
from schedcp_node_agent.artifacts import ArtifactSource, ArtifactUnavailable, DigestMismatch, checked_object
from schedcp_node_agent.kernel_log import wait_for_exit
from schedcp_node_agent.local_state import AgentMemory, MemoryFile
from schedcp_node_agent.sched_ext import SchedExt, SchedExtError
from schedcp_node_agent.scx_process import BinaryUnusable, ScxSupervisor

log = logging.getLogger("schedcp.agent.applier")

CLASS_MAP = "cgroup_class"
# Where the agent image carries the scx binaries (node-agent/Dockerfile).
DEFAULT_SCX_DIR = Path("/opt/schedcp/scx")
# Values of `enum schedcp_class` in bpf/include/schedcp.bpf.h (a unit test compares them).
CLASS_VALUES = {WorkloadClass.THROUGHPUT: 0, WorkloadClass.LATENCY: 1, WorkloadClass.BATCH: 2}


class Notice(BaseModel):
    type: str  # "Normal" or "Warning", as Kubernetes Events have it
    reason: str
    message: str


class Verdict(BaseModel):
    status: ConditionStatus
    reason: str
    message: str = ""
    notices: list[Notice] = []


class HealthPolicy(BaseModel):
    healthy_after_seconds: float = 30.0
    crash_loop_starts: int = 3
    crash_loop_window_seconds: float = 120.0


class Applier:
    def __init__(
        self,
        kernel: SchedExt,
        artifacts: ArtifactSource,
        memory_file: MemoryFile,
        policy: HealthPolicy | None = None,
        clock: Callable[[], float] = time.time,
        scx: ScxSupervisor | None = None,
    ) -> None:
        self.kernel = kernel
        self.artifacts = artifacts
        self.memory_file = memory_file
        self.policy = policy or HealthPolicy()
        self.clock = clock
        self.scx = scx or ScxSupervisor(DEFAULT_SCX_DIR, memory_file.path.parent)
        self.memory: AgentMemory = memory_file.load()
        self.preflights: dict[str, Preflight] = {}  # by object digest
        self.preflight: Preflight | None = None  # the latest, for the status

    # -- start-up ---------------------------------------------------------------------

    def adopt(self) -> list[Notice]:
        """Take over what a previous agent process left in the kernel."""
        self.memory.record_start(self.clock())
        self._save()
        handed_over = self._hand_over()
        if handed_over:
            return handed_over
        pins = self.kernel.pinned()
        for stale in pins[1:]:
            self.kernel.unregister(stale)
        if not pins:
            return []
        name = pins[0].name
        if self.memory.loaded_revision is None or self.memory.loaded_revision.name != name:
            # The pin outlived our memory file (wiped state dir): keep no unverifiable claim.
            log.warning("unloading %s: pinned but not recorded as loaded by this agent", name)
            self.kernel.unregister(pins[0])
            return [Notice(type="Warning", reason="UnknownPinRemoved", message=f"unrecorded scheduler pin {name} removed")]
        starts = self.memory.starts_within(self.policy.crash_loop_window_seconds, self.clock())
        if starts >= self.policy.crash_loop_starts and self.memory.last_known_good != self.memory.loaded_revision:
            reason = f"the agent started {starts} times in {self.policy.crash_loop_window_seconds:.0f}s while {name} was loaded"
            return self._eject(name, reason)
        notices = self.check_health()
        if self.kernel.pinned():
            notices.append(Notice(type="Normal", reason="SchedulerAdopted", message=f"re-adopted {name} loaded before the agent restarted"))
        return notices

    def _hand_over(self) -> list[Notice]:
        """Stop the scx process a previous agent process left running (scx_process.py says
        why it is not re-adopted); unless the agent is crash-looping on it, the spec's next
        reconcile starts it again."""
        child = self.scx.left_behind()
        if child is None:
            return []
        loaded = self.memory.loaded_revision
        starts = self.memory.starts_within(self.policy.crash_loop_window_seconds, self.clock())
        if loaded and loaded.name == child.revision and starts >= self.policy.crash_loop_starts \
                and self.memory.last_known_good != loaded:
            self.scx.child = child
            reason = f"the agent started {starts} times in {self.policy.crash_loop_window_seconds:.0f}s while {child.revision} ran"
            return self._eject(child.revision, reason)
        self.scx.hand_over(child)
        self.memory.loaded_revision = None
        self._save()
        return [Notice(type="Normal", reason="SchedulerHandedOver",
                       message=f"stopped the {child.crate} process (pid {child.pid}) of {child.revision} that the previous "
                               "agent process started; the spec decides what runs next")]

    # -- the desired state ------------------------------------------------------------

    def reconcile(self, spec: NodeSchedulerStateSpec) -> Verdict:
        notices = self.check_health()
        if spec.shared_kernel_with:
            return Verdict(status=ConditionStatus.TRUE, reason="SharedKernel", notices=notices,
                           message=f"this kernel is shared with node {spec.shared_kernel_with}, whose agent manages its scheduler")
        seen = self.kernel.observe()
        desired = spec.desired_revision
        ours = self._ours()
        if desired is None:
            if ours:
                self._unload(ours)
                notices.append(Notice(type="Normal", reason="SchedulerUnloaded",
                                      message=f"{ours} unloaded: the spec asks for the kernel default"))
            return Verdict(status=ConditionStatus.TRUE, reason="KernelDefault", notices=notices)
        if seen.state == "unsupported":
            return Verdict(status=ConditionStatus.FALSE, reason="SchedExtUnsupported",
                           message="this kernel has no /sys/kernel/sched_ext", notices=notices)
        if desired.name in self.memory.ejected:
            return Verdict(status=ConditionStatus.FALSE, reason="RevisionEjected", notices=notices,
                           message=f"{desired.name} was ejected on this node: {self.memory.ejected[desired.name].reason}")
        if ours == desired.name and self.memory.loaded_revision == desired and seen.enabled:
            self._promote_if_healthy()
            return Verdict(status=ConditionStatus.TRUE, reason="Loaded", message=f"{desired.name} is active", notices=notices)
        if seen.enabled and not ours and not spec.replace_foreign_scheduler:
            return Verdict(status=ConditionStatus.FALSE, reason="ForeignScheduler", notices=notices,
                           message=f"sched_ext scheduler {seen.ops!r} was not loaded by schedcp; set replaceForeignScheduler to replace it")
        return self._switch_to(desired, ours, foreign=seen.enabled and not ours, notices=notices)

    def _switch_to(self, desired: RevisionReference, ours: str | None, *, foreign: bool, notices: list[Notice]) -> Verdict:
        try:
            obj = self._object_file(desired)
            binary = _binary_of(obj)
            if binary:  # checked before anything is unloaded: a refused binary leaves the running scheduler
                self.scx.checked_binary(binary)
        except BinaryUnusable as error:
            notices.append(Notice(type="Warning", reason="BinaryUnusable", message=str(error)))
            return Verdict(status=ConditionStatus.FALSE, reason="BinaryUnusable", message=str(error), notices=notices)
        except DigestMismatch as error:
            notices.append(Notice(type="Warning", reason="DigestMismatch", message=str(error)))
            return Verdict(status=ConditionStatus.FALSE, reason="DigestMismatch", message=str(error), notices=notices)
        except ArtifactUnavailable as error:
            return Verdict(status=ConditionStatus.FALSE, reason="ArtifactUnavailable", message=str(error), notices=notices)
        checked = None if binary else self._preflight(desired, obj, notices)
        if checked and not checked.passed:
            return Verdict(status=ConditionStatus.FALSE, reason="PreflightFailed", notices=notices,
                           message=f"{checked.message}; not attached:\n{_tail(checked.log)}")
        if ours:
            self._unload(ours)
        if foreign:
            self.kernel.detach_foreign()
            notices.append(Notice(type="Normal", reason="ForeignSchedulerReplaced", message="detached a scheduler schedcp did not load"))
        try:
            self._load(desired, obj)
        except SchedExtError as error:
            notices.append(Notice(type="Warning", reason="LoadFailed", message=f"{desired.name}: {error}"))
            notices += self._fall_back(exclude=desired.name)
            return Verdict(status=ConditionStatus.FALSE, reason="LoadFailed", message=_tail(error.log), notices=notices)
        if not self.kernel.observe().enabled:
            notices += self.check_health()
            return Verdict(status=ConditionStatus.FALSE, reason="RevisionEjected", notices=notices,
                           message=f"{desired.name} was disabled by the kernel right after loading")
        notices.append(Notice(type="Normal", reason="SchedulerLoaded", message=f"{desired.name} loaded and active"))
        return Verdict(status=ConditionStatus.TRUE, reason="Loaded", message=f"{desired.name} is active", notices=notices)

    def _preflight(self, revision: RevisionReference, obj: Path, notices: list[Notice]) -> Preflight:
        """This kernel's verdict on the object, loaded but not attached; a Notice when it is new."""
        known = self.preflights.get(revision.sha256)
        if known is None:
            started = time.monotonic()
            try:
                self.kernel.preflight(obj)
                passed, message, decisive = True, f"{revision.name} loads on this kernel", ""
            except SchedExtError as error:
                decisive = decisive_verifier_lines(error.log)
                cause = next((line.strip() for line in decisive.splitlines() if DECISIVE.search(line)), "")
                passed, message = False, f"the kernel verifier of this node refused {revision.name}: {cause or error}"
            known = self.preflights[revision.sha256] = Preflight(
                revision=revision, passed=passed, message=message[:1024], log=decisive[-4096:],
                duration_seconds=round(time.monotonic() - started, 3), time=now())
            if not passed:
                log.warning("preflight of %s failed:\n%s", revision.name, decisive)
                notices.append(Notice(type="Warning", reason="PreflightFailed",
                                      message=f"{message}; not attached: {_tail(decisive, 6)}"))
        self.preflight = known.model_copy(update={"revision": revision})
        return self.preflight

    # -- health -----------------------------------------------------------------------

    def check_health(self) -> list[Notice]:
        """Notice that the kernel disabled our scheduler, or that our scheduler's process
        exited; revert. Cheap: two sysfs reads (and a wait status)."""
        ours = self._ours()
        process = self.scx.child is not None
        if ours is None or (self.kernel.observe().enabled and (not process or self.scx.alive())):
            return []
        exit_info = wait_for_exit(self.kernel.host.root / "dev" / "kmsg", self.memory.loaded_ops)
        reason = f"{exit_info.reason}: {exit_info.detail}" if exit_info else "sched_ext went back to disabled"
        # A dying process closes its link before it can be reaped: give its exit a moment.
        if process and self.scx.exited(within=1.0):
            reason = f"{self.scx.exit_reason()}; the kernel: {reason}"
        return self._eject(ours, reason.strip(": "))

    def _eject(self, name: str, reason: str) -> list[Notice]:
        self._stop(name)
        ejection = Ejection(reason=reason[:1024], revision=name, time=now())
        self.memory.ejected[name] = ejection
        self.memory.loaded_revision = None
        self._save()
        log.warning("revision %s ejected: %s", name, reason)
        notices = [Notice(type="Warning", reason="SchedulerEjected", message=f"{name}: {reason}")]
        return notices + self._fall_back(exclude=name)

    def _fall_back(self, exclude: str) -> list[Notice]:
        good = self.memory.last_known_good
        if good is None or good.name == exclude or good.name in self.memory.ejected:
            return [Notice(type="Normal", reason="RevertedToDefault", message="the kernel's default scheduler runs")]
        try:
            self._load(good, self._object_file(good))
        except (SchedExtError, DigestMismatch, ArtifactUnavailable, BinaryUnusable) as error:
            log.error("could not restore last known-good %s: %s", good.name, error)
            return [Notice(type="Warning", reason="RevertedToDefault", message=f"last known-good {good.name} failed to load: {error}")]
        return [Notice(type="Normal", reason="RevertedToLastKnownGood", message=f"{good.name} restored")]

    def _promote_if_healthy(self) -> None:
        loaded, since = self.memory.loaded_revision, self.memory.loaded_at
        if (loaded and since and loaded != self.memory.last_known_good
                and self.clock() - since.timestamp() >= self.policy.healthy_after_seconds):
            self.memory.last_known_good = loaded
            self._save()

    # -- pods' classes ----------------------------------------------------------------

    def sync_classes(self, classes: dict[int, WorkloadClass]) -> int | None:
        """Make the scheduler's cgroup-class map hold exactly `classes`; None without such a map."""
        ours = self._ours()
        pinned = self.kernel.host.pin_root / ours / CLASS_MAP if ours else None
        if pinned is None or not pinned.exists():  # none for a binary: it has no such map
            return None
        wanted = {struct.pack("<Q", cgid): struct.pack("<I", CLASS_VALUES[WorkloadClass(c)]) for cgid, c in classes.items()}
        present = self.kernel.map_entries(pinned)
        stale = present.keys() - wanted.keys()
        for key in stale:
            self.kernel.map_delete(pinned, key)
        changed = [key for key, value in wanted.items() if present.get(key) != value]
        for key in changed:
            self.kernel.map_update(pinned, key, wanted[key])
        if stale or changed:
            log.info("class map of %s: %d cgroups (%d written, %d removed)", ours or "-",
                     len(wanted), len(changed), len(stale))
        return len(wanted)

    # -- what is running --------------------------------------------------------------

    def active(self) -> ActiveScheduler:
        seen = self.kernel.observe()
        ours = self._ours()
        mine = ours is not None and self.memory.loaded_revision is not None and seen.enabled
        return ActiveScheduler(
            state=seen.state,
            ops=seen.ops,
            enable_seq=seen.enable_seq,
            revision=self.memory.loaded_revision if mine else None,
            loaded_at=self.memory.loaded_at if mine else None,
        )

    # -- internals --------------------------------------------------------------------

    def _ours(self) -> str | None:
        """The revision this agent runs: its supervised process, or its pinned link."""
        if self.scx.child is not None:
            return self.scx.child.revision
        pins = self.kernel.pinned()
        return pins[0].name if pins else None

    def _object_file(self, revision: RevisionReference) -> Path:
        """The revision's object, from the node's cache if a digest-checked copy is there."""
        cached = self.memory_file.path.parent / "objects" / f"{revision.sha256}.bpf.o"
        if cached.exists() and hashlib.sha256(cached.read_bytes()).hexdigest() == revision.sha256:
            return cached
        data = checked_object(self.artifacts, revision)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
        return cached

    def _load(self, revision: RevisionReference, obj: Path) -> None:
        binary = _binary_of(obj)
        if binary:
            seen = self.scx.start(revision.name, binary, self.kernel.observe)
        else:
            pin = self.kernel.host.pin_root / revision.name
            seen = self.kernel.register(obj, pin, pin_maps=frozenset({CLASS_MAP}))
        self.memory.loaded_revision = revision
        self.memory.loaded_ops = seen.ops
        self.memory.loaded_at = now()
        self._save()
        log.info("loaded %s (ops %s)", revision.name, seen.ops)

    def _stop(self, name: str) -> None:
        if self.scx.child is not None and self.scx.child.revision == name:
            self.scx.stop()
        # A process has no pin to remove, but this also waits out `disabling`.
        self.kernel.unregister(self.kernel.host.pin_root / name)

    def _unload(self, name: str) -> None:
        self._stop(name)
        self.memory.loaded_revision = None
        self.memory.loaded_at = None
        self._save()
        log.info("unloaded %s", name)

    def runs_process(self) -> bool:
        return self.scx.child is not None

    def _save(self) -> None:
        self.memory_file.save(self.memory)


def _binary_of(obj: Path) -> BinarySource | None:
    """The scx binary a revision's object names; None for a BPF object (an ELF file)."""
    with obj.open("rb") as handle:
        if handle.read(1) != b"{":
            return None
    return parse_binary(obj.read_text())


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
