from __future__ import annotations

from pathlib import Path

import pytest

BAD = Path(__file__).with_name("schedulers")


@pytest.fixture
def bad_source():
    return lambda name: (BAD / f"{name}.bpf.c").read_text()
