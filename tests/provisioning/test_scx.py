"""The scx build cache's bookkeeping, without cargo: what a crate's status says, and that a
failed build is retried while a built crate is never rebuilt."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from schedcp.provisioning import scx
from schedcp.provisioning.scx import ScxBuild, ScxReason, build_crate, crate_status, scx_root

PANIC_LOG = """   Compiling scx_utils v1.1.4
error: failed to run custom build command for `scx_utils v1.1.4`
  thread 'main' panicked at build.rs:10:5:
  clang < 18 does not support -mcpu=v4 for BPF ("clang" ver="14.0.6")
"""


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SCHEDCP_CACHE_DIR", str(tmp_path))
    (scx_root() / "logs").mkdir(parents=True)
    return scx_root()


def fake_install(calls: list[str], returncode: int):
    def install(crate: str, version: str, log: Path) -> ScxBuild:
        calls.append(crate)
        log.write_text(PANIC_LOG if returncode else "Installed\n")
        if returncode == 0:
            (scx_root(version) / "bin").mkdir(exist_ok=True)
            (scx_root(version) / "bin" / crate).write_text("")
        return ScxBuild(crate=crate, version=version, returncode=returncode, seconds=1.0,
                        failure=scx.build_failure(log.read_text()) if returncode else "")
    return install


def test_a_crate_never_tried_is_not_built() -> None:
    assert crate_status("scx_lavd").reason == ScxReason.NOT_BUILT


def test_a_failed_build_names_the_build_scripts_reason_and_its_log(monkeypatch) -> None:
    monkeypatch.setattr(scx, "_install", fake_install([], 101))
    status = build_crate("scx_bpfland")
    assert status.reason == ScxReason.BUILD_FAILED and status.binary is None
    assert "scx_utils v1.1.4 build script: clang < 18 does not support -mcpu=v4" in status.message
    assert status.log and status.log.read_text() == PANIC_LOG


def test_a_failed_crate_is_retried_and_a_built_one_is_not_rebuilt(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(scx, "_install", fake_install(calls, 101))
    build_crate("scx_bpfland")
    monkeypatch.setattr(scx, "_install", fake_install(calls, 0))
    assert scx.ensure_scx(("scx_bpfland",)) == {"scx_bpfland": scx_root() / "bin" / "scx_bpfland"}
    scx.ensure_scx(("scx_bpfland",))
    assert calls == ["scx_bpfland", "scx_bpfland"]
    assert crate_status("scx_bpfland").reason == ScxReason.BUILT


def test_a_crate_whose_lock_is_held_is_building(cache) -> None:
    with (cache / "logs" / "scx_rusty.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert crate_status("scx_rusty").reason == ScxReason.BUILDING
    assert crate_status("scx_rusty").reason == ScxReason.NOT_BUILT
