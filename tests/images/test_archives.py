"""The image archives in the cache: an edit of the tree makes a new one, the old ones go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from schedcp_cli.devimages.build import _prune

pytestmark = pytest.mark.unit


def test_pruning_an_image_keeps_its_newest_archives_and_no_other_image_s(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SCHEDCP_CACHE_DIR", str(tmp_path))
    images = tmp_path / "images"
    images.mkdir()
    names = ["node-agent-000000000000000a", "node-agent-000000000000000b", "node-agent-000000000000000c",
             "node-agent-bcc-00000000000000aa", "node-agent-bcc-00000000000000bb", "node-agent-bcc-00000000000000cc"]
    for age, name in enumerate(reversed(names)):  # the first name is the oldest
        archive = images / f"{name}.tar"
        archive.write_bytes(b"")
        os.utime(archive, (1_000_000 - age, 1_000_000 - age))
    _prune("node-agent")
    assert sorted(p.stem for p in images.iterdir()) == sorted(names[1:])
