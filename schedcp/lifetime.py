"""Tie a child process's life to its parent's: the kernel kills it if the parent dies,
even by SIGKILL, so no VM or server outlives the test or command that started it."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """A `preexec_fn`: also a process group of its own, so terminal signals reach only us."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()
