"""An scx scheduler binary, run as the agent's supervised child process.

A binary revision's object is the binary's canonical text (crate, version, the binary's
sha256, arguments), pinned by the revision's digest. The agent runs the binary from its
own image (`--scx-dir`, laid out as `<version>/bin/<crate>` like the build cache), only if
the file has the pinned sha256, in a session of its own (a signal to the agent's process
group does not reach it), its output in a log whose last lines explain an exit.

Unlike a pinned struct_ops link, the scheduler lives only as long as its process. When the
agent restarts: the child's pid and start time are recorded in the state directory, and a
new agent process stops a recorded child that still runs (SIGINT, then SIGKILL) before it
loads anything; then it loads what the spec says. Re-adopting the child instead would keep
a process that nobody can wait for and whose exit nobody sees at once; the handover costs
a moment on the kernel's default scheduler and never leaves two schedulers, or two scx
processes racing for sched_ext. (In a DaemonSet the child dies with the agent's container
anyway: the agent is its PID namespace's init.)
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from schedcp.api.v1alpha1.template import BinarySource
from schedcp.artifacts import file_sha256
from schedcp_node_agent.host import read_value
from schedcp_node_agent.sched_ext import Observation, SchedExtError

log = logging.getLogger("schedcp.agent.scx")

# scx_lavd attaches in about 30 s in an emulated VM.
LOAD_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0
RECORD_FILE = "scx-process.json"
LOG_LINES = 8


class BinaryUnusable(Exception):
    """The binary a revision names is missing here, or is not the pinned build."""


class ScxChild(BaseModel):
    revision: str
    crate: str
    pid: int
    start_ticks: int  # /proc/PID/stat field 22: tells our child from a process that reused its pid
    log: Path


def escape_controls(text: str) -> str:
    """scx logs carry ANSI colour codes; a status message and a JSON line must not."""
    return "".join(c if c in "\n\t" or c >= " " else f"\\x{ord(c):02x}" for c in text)


def log_tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return escape_controls("\n".join(text.strip().splitlines()[-lines:]))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a process, None when there is none."""
    raw = read_value(Path(f"/proc/{pid}/stat"))
    if raw is None:
        return None
    fields = raw.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def _running(child: ScxChild) -> bool:
    found = _stat(child.pid)
    return found is not None and found[0] != "Z" and found[1] == child.start_ticks


class ScxSupervisor:
    def __init__(self, scx_dir: Path, state_dir: Path) -> None:
        self.scx_dir = scx_dir
        self.state_dir = state_dir
        self.child: ScxChild | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def record_path(self) -> Path:
        return self.state_dir / RECORD_FILE

    def binary_path(self, binary: BinarySource) -> Path:
        return self.scx_dir / binary.version / "bin" / binary.crate

    def checked_binary(self, binary: BinarySource) -> Path:
        path = self.binary_path(binary)
        if not path.is_file():
            raise BinaryUnusable(f"{binary.crate} {binary.version} is not in {self.scx_dir} (the agent image carries the binaries)")
        actual = file_sha256(path)
        if actual != binary.sha256:
            raise BinaryUnusable(f"{path} has sha256 {actual[:12]}…, the revision pins {binary.sha256[:12]}…")
        return path

    # -- start, watch, stop -------------------------------------------------------------

    def start(self, revision: str, binary: BinarySource, observe: Callable[[], Observation]) -> Observation:
        """Run the binary and wait until the kernel reports its ops enabled."""
        path = self.checked_binary(binary)
        logs = self.state_dir / "scx"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{revision}.log"
        with log_path.open("wb") as sink:
            self._process = subprocess.Popen([str(path), *binary.arguments], stdin=subprocess.DEVNULL, stdout=sink,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        found = _stat(self._process.pid)
        self.child = ScxChild(revision=revision, crate=binary.crate, pid=self._process.pid,
                              start_ticks=found[1] if found else 0, log=log_path)
        self._record()
        log.info("started %s for %s (pid %d): %s", binary.crate, revision, self._process.pid, " ".join(binary.arguments))
        deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
        while True:
            seen = observe()
            if seen.enabled and binary.runs_as(seen.ops):
                return seen
            if not self.alive() or time.monotonic() > deadline:
                why = self.exit_reason() if not self.alive() else f"{binary.crate} did not attach within {LOAD_TIMEOUT_SECONDS:.0f}s"
                self.stop()
                raise SchedExtError(why, log_tail(log_path))
            time.sleep(0.1)

    def alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return self.child is not None and _running(self.child)

    def exited(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.alive()

    def exit_reason(self) -> str:
        """Why the child is gone, with its last log lines (control characters escaped)."""
        if self.child is None:
            return "no scheduler process"
        status = self._process.poll() if self._process else None
        code = f"exited with status {status}" if status is not None and status >= 0 else \
            f"was killed by signal {-status}" if status is not None else "exited"
        tail = log_tail(self.child.log)
        return f"the {self.child.crate} process {code}" + (f"; its last output:\n{tail}" if tail else "")

    def stop(self) -> None:
        """SIGINT (scx schedulers detach cleanly on it), SIGKILL after STOP_TIMEOUT_SECONDS."""
        child = self.child
        if child is not None:
            self._signal_and_wait(child)
            log.info("stopped %s of %s (pid %d)", child.crate, child.revision, child.pid)
        self.child, self._process = None, None
        self.record_path.unlink(missing_ok=True)

    def _signal_and_wait(self, child: ScxChild) -> None:
        for sig, timeout in ((signal.SIGINT, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, STOP_TIMEOUT_SECONDS)):
            if not self._still_there(child):
                return
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
            while self._still_there(child) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _still_there(self, child: ScxChild) -> bool:
        if self._process is not None and self._process.pid == child.pid:
            return self._process.poll() is None
        return _running(child)

    # -- across agent restarts ----------------------------------------------------------

    def _record(self) -> None:
        assert self.child is not None
        partial = self.record_path.with_suffix(".partial")
        partial.write_text(self.child.model_dump_json())
        os.replace(partial, self.record_path)

    def left_behind(self) -> ScxChild | None:
        """The child a previous agent process started, if it still runs."""
        try:
            child = ScxChild.model_validate_json(self.record_path.read_text())
        except (OSError, ValueError):
            return None
        if _running(child):
            return child
        self.record_path.unlink(missing_ok=True)
        return None

    def hand_over(self, child: ScxChild) -> None:
        """Stop the previous agent's child: this process loads afresh what the spec says."""
        self.child, self._process = child, None
        self.stop()
