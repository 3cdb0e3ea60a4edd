"""Why the kernel disabled a sched_ext scheduler, read from the kernel log (/dev/kmsg).

sysfs only says that the state went back to `disabled`; the reason (a stall, an error
exit, user-space unregistering) is printed once by the kernel when it happens. Reading
/dev/kmsg directly needs no `dmesg` binary in the agent image and sees every record
since boot, so a restarted agent still finds the reason of an ejection it missed.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from pydantic import BaseModel

DISABLED = re.compile(r'sched_ext: BPF scheduler "(?P<ops>[^"]+)" disabled \((?P<reason>[^)]*)\)')
# The lines after the "disabled" line (the stalled task, the error message) explain it.
FOLLOW_UP_LINES = 3


class KernelExit(BaseModel):
    ops: str
    reason: str
    detail: str = ""


def read_records(kmsg: Path) -> list[str]:
    """Every record still in the kernel's ring buffer, oldest first."""
    try:
        fd = os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    records: list[str] = []
    try:
        while True:
            try:
                raw = os.read(fd, 8192)
            except OSError as error:
                if error.errno == errno.EPIPE:  # records overwritten while reading: go on
                    continue
                if error.errno == errno.EAGAIN:
                    break
                raise
            if not raw:
                break
            records.append(raw.decode(errors="replace").partition(";")[2].split("\n", 1)[0])
    finally:
        os.close(fd)
    return records


def last_exit(records: list[str], ops: str | None = None) -> KernelExit | None:
    """The most recent disable of `ops` (any scheduler when None), with its context lines."""
    for index in range(len(records) - 1, -1, -1):
        match = DISABLED.search(records[index])
        if match and (ops is None or match.group("ops") == ops):
            detail = [line.strip() for line in records[index + 1 : index + 1 + FOLLOW_UP_LINES] if line.strip()]
            return KernelExit(ops=match.group("ops"), reason=match.group("reason"), detail="\n".join(detail))
    return None


def wait_for_exit(kmsg: Path, ops: str | None, timeout: float = 1.0) -> KernelExit | None:
    """The kernel flips sysfs to `disabled` before it prints why: give the record a moment."""
    deadline = time.monotonic() + timeout
    while (found := last_exit(read_records(kmsg), ops)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
