"""The scx child process on the host, without sched_ext: the digest check before exec, the
record that lets a restarted agent stop what its predecessor started, and escaped logs."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from schedcp.api.v1alpha1.base import RevisionReference
from schedcp.api.v1alpha1.nodestate import NodeSchedulerStateSpec
from schedcp.api.v1alpha1.template import BinarySource, binary_text
from schedcp_node_agent.applier import Applier
from schedcp_node_agent.artifacts import DirectoryArtifacts
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.local_state import MemoryFile
from schedcp_node_agent.sched_ext import SchedExt
from schedcp_node_agent.scx_process import ScxChild, ScxSupervisor, _stat, escape_controls


def test_a_binary_whose_digest_differs_from_the_revision_is_not_run(tmp_path) -> None:
    (tmp_path / "sys/kernel/sched_ext").mkdir(parents=True)
    (tmp_path / "sys/kernel/sched_ext/state").write_text("disabled\n")
    scx_dir, objects, state = tmp_path / "scx", tmp_path / "objects", tmp_path / "state"
    (scx_dir / "1.1.4/bin").mkdir(parents=True)
    (scx_dir / "1.1.4/bin/scx_bpfland").write_bytes(b"#!/bin/sh\ntouch ran\n")
    objects.mkdir()
    text = binary_text(BinarySource(crate="scx_bpfland", version="1.1.4", sha256="a" * 64, ops_prefix="bpfland"))
    (objects / "r1.bpf.o").write_text(text)
    host = HostPaths(root=tmp_path, state_dir=state)
    applier = Applier(SchedExt(host, ["false"]), DirectoryArtifacts(objects), MemoryFile(state),
                      scx=ScxSupervisor(scx_dir, state))
    revision = RevisionReference(name="r1", sha256=hashlib.sha256(text.encode()).hexdigest())
    verdict = applier.reconcile(NodeSchedulerStateSpec(desired_revision=revision))
    assert verdict.reason == "BinaryUnusable" and "the revision pins aaaaaaaaaaaa" in verdict.message
    assert applier.scx.child is None and not (state / "scx-process.json").exists()


def test_a_restarted_agent_stops_the_child_its_predecessor_left_running(tmp_path) -> None:
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    found = _stat(child.pid)
    assert found
    before = ScxSupervisor(tmp_path, tmp_path)
    before.child = ScxChild(revision="r1", crate="scx_bpfland", pid=child.pid, start_ticks=found[1], log=tmp_path / "log")
    before._record()
    after = ScxSupervisor(tmp_path, tmp_path)  # the next agent process
    left = after.left_behind()
    assert left is not None and left.pid == child.pid
    after.hand_over(left)
    assert child.wait(timeout=5) is not None and not (tmp_path / "scx-process.json").exists()


def test_a_record_whose_pid_was_reused_names_no_child(tmp_path) -> None:
    found = _stat(1)
    assert found
    stale = ScxChild(revision="r1", crate="scx_bpfland", pid=1, start_ticks=found[1] + 1, log=Path("log"))
    (tmp_path / "scx-process.json").write_text(stale.model_dump_json())
    assert ScxSupervisor(tmp_path, tmp_path).left_behind() is None
    assert not (tmp_path / "scx-process.json").exists()


def test_log_control_characters_are_escaped() -> None:
    assert escape_controls("\x1b[32mINFO\x1b[0m ok\n") == "\\x1b[32mINFO\\x1b[0m ok\n"
