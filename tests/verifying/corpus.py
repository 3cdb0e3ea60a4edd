"""The hostile corpus (tests/verifying/hostile): its manifest, and each case as a candidate."""

from __future__ import annotations

from pathlib import Path

import yaml

from schedcp.verifying.verifier import Candidate

HOSTILE = Path(__file__).with_name("hostile")
CASES = yaml.safe_load((HOSTILE / "manifest.yaml").read_text())
ORDER = ("static", "kernelVerifier", "dynamic")
STATIC = [c for c in CASES if c["stage"] == "static"]
LATER = [c for c in CASES if c["stage"] != "static"]


def candidate(case: dict) -> Candidate:
    return Candidate(case["file"], (HOSTILE / f"{case['file']}.bpf.c").read_text())
