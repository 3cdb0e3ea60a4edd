"""`schedcp dev images`: the operator, node-agent and pause images as archives in the cache.

Each archive is named by a digest of everything that goes into it (the image's description,
its package list, the source tree, the scx builds, the pause program), so an unchanged tree
is a cache hit in milliseconds and a changed one a new tag that no node can confuse with the
old one. The image reference carries the digest: `schedcp.local/<name>:dev-<digest>`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root
from schedcp.provisioning.scx import scx_root
from schedcp_cli.devcluster.kubebuild import _go, _go_env
from schedcp_cli.devimages.oci import ImageConfig, write_archive
from schedcp_cli.devimages.rootfs import build_rootfs
from schedcp_cli.devimages.spec import REPO, SOURCE_PATHS, ImageSpec

REGISTRY = "schedcp.local"
PAUSE_SOURCE = Path(__file__).with_name("pause")
# Bumped when the way an image is assembled changes, so older archives stop matching.
_BUILDER_VERSION = "1"


class ImageArchive(BaseModel):
    name: str
    reference: str
    path: Path
    size_bytes: int


def images_dir() -> Path:
    return cache_root() / "images"


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".venv") and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            path = Path(directory, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")


def image_digest(spec: ImageSpec) -> str:
    digest = hashlib.sha256(f"{_BUILDER_VERSION}\0{spec.model_dump_json()}\0".encode())
    for packages in spec.packages_files:
        digest.update((REPO / packages).read_bytes())
    for relative in SOURCE_PATHS:
        path = REPO / relative
        if path.is_dir():
            _hash_tree(digest, path)
        else:
            digest.update(path.read_bytes())
    if (scx_root() / "bin").is_dir():
        _hash_tree(digest, scx_root() / "bin")
    return digest.hexdigest()[:16]


def _cached(name: str, digest: str) -> tuple[str, Path]:
    return f"{REGISTRY}/{name}:dev-{digest}", images_dir() / f"{name}-{digest}.tar"


def _result(name: str, reference: str, path: Path) -> ImageArchive:
    return ImageArchive(name=name, reference=reference, path=path, size_bytes=path.stat().st_size)


def ensure_image(spec: ImageSpec, ca_bundle: Path | None) -> ImageArchive:
    reference, archive = _cached(spec.name, image_digest(spec))
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"schedcp-image-{spec.name}-", dir=archive.parent) as tmp:
            rootfs = build_rootfs(spec, Path(tmp) / "rootfs", ca_bundle)
            config = ImageConfig(entrypoint=spec.entrypoint, env=spec.env, user=spec.user)
            write_archive(rootfs, config, reference, archive)
        _prune(spec.name)
    return _result(spec.name, reference, archive)


def ensure_pause_image() -> ImageArchive:
    """The sandbox image: one static Go binary that sleeps, stops on SIGTERM and reaps."""
    digest = hashlib.sha256(f"{_BUILDER_VERSION}\0".encode())
    _hash_tree(digest, PAUSE_SOURCE)
    reference, archive = _cached("pause", digest.hexdigest()[:16])
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="schedcp-image-pause-", dir=archive.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            rootfs.mkdir()
            _go(["build", "-trimpath", "-ldflags=-s -w", "-o", str(rootfs / "pause"), "."], PAUSE_SOURCE, _go_env())
            write_archive(rootfs, ImageConfig(entrypoint="/pause"), reference, archive)
        _prune("pause")
    return _result("pause", reference, archive)


def _prune(name: str, keep: int = 2) -> None:
    """Each edit of the tree makes a new archive of a few hundred MB: keep the newest `keep`
    of an image (a worktree next to this one may still use the one before)."""
    # Exactly NAME-DIGEST.tar: node-agent-*.tar would take node-agent-bcc's archives for its own.
    ours = [p for p in images_dir().glob(f"{name}-*.tar") if re.fullmatch(rf"{re.escape(name)}-[0-9a-f]{{16}}\.tar", p.name)]
    archives = sorted(ours, key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in archives[keep:]:
        stale.unlink(missing_ok=True)
