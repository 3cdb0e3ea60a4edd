"""Verification reports remembered on disk: same question, same answer, no second build."""

from __future__ import annotations

import pytest

from schedcp.verifying import cache, verifier

BROKEN = "/* SPDX-License-Identifier: GPL-2.0 */\nthis is not C\n"


def test_a_refused_source_is_answered_again_from_disk(tmp_path, monkeypatch) -> None:
    first = cache.verify_remembered(BROKEN, {}, directory=tmp_path)
    assert not first.passed and first.stages[0].result == "Failed"
    assert len(list(tmp_path.glob("*.json"))) == 1
    monkeypatch.setattr(verifier, "verify", lambda *_, **__: pytest.fail("verified twice"))
    assert cache.verify_remembered(BROKEN, {}, directory=tmp_path) == first


def test_the_key_changes_with_tunables_kernel_and_mode() -> None:
    base = cache.report_key(BROKEN, {"a": 1}, True, "7.3")
    assert base == cache.report_key(BROKEN, {"a": 1}, True, "7.3")
    assert len({base, cache.report_key(BROKEN, {"a": 2}, True, "7.3"), cache.report_key(BROKEN, {"a": 1}, False, "7.3"),
                cache.report_key(BROKEN, {"a": 1}, True, "7.4")}) == 4
