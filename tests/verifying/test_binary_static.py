"""The static stage of an scx binary candidate: only a pinned built-in, with its cached copy's
digest checked and exactly the arguments of its tunables; nothing boots."""

from __future__ import annotations

import hashlib

import pytest

from schedcp.api.v1alpha1.template import TemplateSource, binary_text
from schedcp.provisioning.scx import crate_status
from schedcp.templates import builtin_specs
from schedcp.verifying import verifier

SPEC = builtin_specs()["scx-bpfland"]
TUNED = {t.name: t.default for t in SPEC.tunables} | {"slice_us": 5000, "sticky_tasks": 1}


@pytest.fixture(autouse=True)
def no_boot(monkeypatch) -> None:
    def forbid(*args, **kwargs):
        raise AssertionError("the VM must not boot")

    monkeypatch.setattr(verifier, "boot_and_run", forbid)


def static(source: str, tunables: dict[str, int]) -> tuple[str, str]:
    stage = verifier.verify(source, tunables, dynamic=False).stages[0]
    return stage.result, stage.message


def forged(**changes: object) -> str:
    binary = SPEC.configured(TUNED).binary
    assert binary is not None
    return binary_text(binary.model_copy(update=changes))


def test_a_configured_binary_passes_and_its_object_digest_is_that_of_its_text() -> None:
    if crate_status("scx_bpfland").binary is None:
        pytest.skip("scx_bpfland is not in the cache")
    source = SPEC.configured(TUNED).text()
    report = verifier.verify(source, TUNED, dynamic=False)
    assert report.stages[0].result == "Passed", report.stages[0].message
    assert report.object_sha256 == hashlib.sha256(source.encode()).hexdigest() and report.ops_name == "bpfland"


def test_arguments_that_are_not_the_tunables_flags_are_refused() -> None:
    result, message = static(forged(arguments=["--slice-us=5000", "--slice-min-us=0", "--local-pcpu"]), TUNED)
    assert result == "Failed" and "are not those of the tunables" in message


def test_a_tunable_outside_its_range_is_refused() -> None:
    result, message = static(forged(), TUNED | {"slice_us": 10})
    assert result == "Failed" and "outside" in message


def test_a_binary_that_is_not_a_pinned_builtin_is_refused() -> None:
    for source in (forged(sha256="b" * 64), forged(crate="scx_rustland"), forged(version="1.0.0")):
        result, message = static(source, TUNED)
        assert result == "Failed" and "not a built-in scx scheduler" in message


def test_a_cached_binary_whose_digest_differs_from_the_pin_is_refused(monkeypatch, tmp_path) -> None:
    fake = tmp_path / "scx_bpfland"
    fake.write_bytes(b"not the pinned build")
    monkeypatch.setattr("schedcp.verifying.static.crate_status",
                        lambda crate, version: crate_status(crate, version).model_copy(update={"binary": fake}))
    result, message = static(SPEC.configured(TUNED).text(), TUNED)
    assert result == "Failed" and "the template pins" in message


def test_a_template_source_for_code_is_unchanged_by_configuration() -> None:
    vtime = builtin_specs()["vtime"]
    assert vtime.configured({"slice_us": 100}) == vtime.source and isinstance(vtime.source, TemplateSource)
