"""A root filesystem made an image archive that containerd imports, with no engine or registry.

umoci writes an OCI layout (one layer holding the root, the entrypoint and environment in the
config); skopeo turns it into a docker-archive tagged with the image reference, the format
`ctr images import` reads.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel


class ImageConfig(BaseModel):
    entrypoint: str
    env: dict[str, str] = {}
    user: str = "0"


def _run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")


def write_archive(rootfs: Path, config: ImageConfig, reference: str, archive: Path) -> Path:
    """Write `rootfs` as the image `reference` to `archive`, only complete or not at all."""
    partial = archive.with_name(f"{archive.name}.partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="schedcp-oci-") as tmp:
        image = f"{tmp}/layout:image"
        _run("umoci", "init", "--layout", f"{tmp}/layout")
        _run("umoci", "new", "--image", image)
        _run("umoci", "insert", "--image", image, str(rootfs), "/")
        env = [f"--config.env={name}={value}" for name, value in config.env.items()]
        _run("umoci", "config", "--image", image, f"--config.entrypoint={config.entrypoint}",
             f"--config.user={config.user}", *env)
        _run("skopeo", "copy", "--quiet", f"oci:{image}", f"docker-archive:{partial}:{reference}")
    partial.rename(archive)
    return archive
