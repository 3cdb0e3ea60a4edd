from __future__ import annotations

import time
from pathlib import Path

import pytest

from schedcp.templates import builtin_templates
from schedcp.verifying.verifier import Candidate, verify_all
from tests.verifying.corpus import LATER, candidate

# Schedulers other tests load (the agent's stall handling: a watchdog of 1 s).
BAD = Path(__file__).with_name("schedulers")


@pytest.fixture(scope="session")
def one_boot():
    """Every built-in and every corpus case that reaches a kernel, verified in one micro-VM boot.

    Reports by label: the template's name, or the corpus file's.
    """
    candidates = [Candidate(name, t.source(), t.defaults()) for name, t in builtin_templates().items()]
    candidates += [candidate(case) for case in LATER]
    started = time.monotonic()
    reports = verify_all(candidates)
    print(f"\nverified {len(candidates)} candidates in one boot in {time.monotonic() - started:.0f} s")
    return {c.label: r for c, r in zip(candidates, reports, strict=True)}
