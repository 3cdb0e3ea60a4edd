"""Cache entries filled by several processes at once: one fills, the others wait and find it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schedcp.cache import filling, write_atomically

pytestmark = pytest.mark.unit

SECOND_FILLER = """
import sys
from pathlib import Path
from schedcp.cache import filling
entry = Path(sys.argv[1])
print("waiting", flush=True)
with filling(entry):
    print("filling" if not entry.exists() else "found", flush=True)
"""


def test_a_second_process_waits_for_the_fill_and_then_finds_the_entry(tmp_path: Path) -> None:
    entry = tmp_path / "kernels" / "vmlinuz"
    with filling(entry):
        second = subprocess.Popen([sys.executable, "-c", SECOND_FILLER, str(entry)], stdout=subprocess.PIPE, text=True)
        assert second.stdout is not None
        assert second.stdout.readline().strip() == "waiting"
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=1.0)  # it cannot take the lock while this fill holds it
        write_atomically(entry, "the kernel")
    assert second.stdout.read().strip() == "found"
    assert second.wait(timeout=30) == 0


def test_an_atomic_write_leaves_only_the_file(tmp_path: Path) -> None:
    path = tmp_path / "verified" / "report.json"
    write_atomically(path, "{}")
    write_atomically(path, '{"passed": true}')
    assert path.read_text() == '{"passed": true}'
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
