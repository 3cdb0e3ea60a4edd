"""Child processes that never outlive what they belong to.

A fixture's processes get PR_SET_PDEATHSIG, so the kernel kills them even when pytest
itself is SIGKILLed; a detached cluster (`schedcp dev cluster up`) gets its own session
and a pidfile so that `down` finds it. Either way, stopping is SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from schedcp.lifetime import die_with_parent


def spawn(args: list[str], log: Path, *, detached: bool, env: dict[str, str] | None = None) -> int:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=detached,
            preexec_fn=None if detached else die_with_parent,
        )
    return process.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state == "Z":
        _reap(pid)
        return True
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, grace_seconds: float = 10.0) -> None:
    """SIGTERM, wait up to `grace_seconds`, then SIGKILL; returns once the process is gone."""
    for sig, wait in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                _reap(pid)
                return
            time.sleep(0.1)
    raise RuntimeError(f"process {pid} survived SIGKILL")
