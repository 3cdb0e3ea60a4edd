"""The static stage refuses what must never reach a kernel, without booting anything.

The allow-list's refusals, case by case: test_hostile_corpus.py and test_allowlist_object.py.
"""

from __future__ import annotations

import pytest

from schedcp.templates import builtin_templates
from schedcp.verifying import verifier
from schedcp.verifying.verifier import Candidate, verify_all
from schedcp_cli.main import main as cli_main
from tests.verifying.corpus import HOSTILE


@pytest.fixture
def no_boot(monkeypatch):
    """Fail the test if anything tries to boot: static refusals must be free."""

    def forbid(*_args, **_kwargs):
        raise AssertionError("a statically refused candidate booted a VM")

    monkeypatch.setattr(verifier, "boot_and_run", forbid)


def stages(report) -> dict[str, tuple[str, str]]:
    return {s.name: (s.result, s.message) for s in report.stages}


def test_a_refused_helper_is_found_in_the_object_even_when_the_source_hides_it(no_boot) -> None:
    hidden = (HOSTILE / "signal.bpf.c").read_text().replace("bpf_send_signal(9);", "SIGNAL(9);")
    hidden = hidden.replace('#include "schedcp.bpf.h"', '#include "schedcp.bpf.h"\n#define SIGNAL bpf_send_sig##nal')
    report = verify_all([Candidate("hidden", hidden)])[0]
    assert "bpf_send_signal" not in hidden
    assert "helper bpf_send_signal (#109, called in struct_ops/signal_enqueue) is refused" in stages(report)["static"][1]


def test_compile_errors_come_back_with_the_compiler_log(no_boot) -> None:
    source = builtin_templates()["fifo"].source().replace("SLICE_US * SCHEDCP_USEC, 0);", "SLICE_US * SCHEDCP_USEC, 0)")
    report = verify_all([Candidate("typo", source)])[0]
    assert stages(report)["static"][0] == "Failed"
    assert "does not compile" in stages(report)["static"][1]
    assert "error:" in report.stages[0].log


def test_every_builtin_passes_the_static_stage_with_its_defaults(no_boot) -> None:
    templates = builtin_templates()
    reports = verify_all([Candidate(n, t.source(), t.defaults()) for n, t in templates.items()], dynamic=False)
    failed = {n: stages(r)["static"] for n, r in zip(templates, reports, strict=True) if stages(r)["static"][0] != "Passed"}
    assert not failed
    assert all(r.object_sha256 and len(r.object_sha256) == 64 for r in reports)


def test_tunables_change_the_object(no_boot) -> None:
    fifo = builtin_templates()["fifo"]
    default, custom = verify_all(
        [Candidate("a", fifo.source(), fifo.defaults()), Candidate("b", fifo.source(), {"slice_us": 2000})], dynamic=False
    )
    assert default.object_sha256 != custom.object_sha256


@pytest.mark.parametrize(("name", "code", "verdict"), [
    ("benign", 0, "PASSED the static stage (micro-VM stages not run)"),
    ("probe_read", 1, "FAILED"),
])
def test_verify_static_only_says_how_the_static_stage_went(no_boot, capsys, name: str, code: int, verdict: str) -> None:
    """`schedcp verify --static-only` is a pre-commit check: its exit status is the static stage's."""
    assert cli_main(["verify", "--static-only", str(HOSTILE / f"{name}.bpf.c")]) == code
    assert capsys.readouterr().out.splitlines()[-1] == verdict
