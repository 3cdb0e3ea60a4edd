"""The user cache where built and downloaded artifacts live, outside any checkout."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    override = os.environ.get("SCHEDCP_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "schedcp"


@contextmanager
def filling(entry: Path) -> Iterator[None]:
    """Hold `entry`'s fill lock: two processes that miss the same cache entry at once (the demo's
    node and a design's verifier, two tests) would otherwise share one partial path and trip
    over each other. The second waits, and then finds the entry complete."""
    lock = entry.with_name(f"{entry.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_atomically(path: Path, data: str) -> None:
    """Write `path` whole or not at all, through a temporary file of its own (not a fixed
    partial name that a concurrent writer of the same entry would share)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(data)
    os.replace(temporary, path)
