"""A Debian kernel with sched_ext, resolved at setup time rather than pinned.

Debian's kernel versions move and old ones vanish from the archive, so the version comes
from the suite's `linux-image-amd64` metapackage, and the kernel's own config decides
whether it can run sched_ext. The result (vmlinuz, an ELF vmlinux with BTF, vmlinux.h)
is cached per kernel release.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root
from schedcp.debian_packages import DebianSuite

log = logging.getLogger(__name__)

SUITES = ("trixie-backports", "sid")
REQUIRED_CONFIG = ("CONFIG_SCHED_CLASS_EXT=y", "CONFIG_DEBUG_INFO_BTF=y", "CONFIG_BPF_SYSCALL=y")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class KernelArtifacts(BaseModel):
    release: str
    suite: str
    package_version: str
    vmlinuz: Path
    vmlinux: Path
    config: Path
    vmlinux_h: Path


def image_package(suite: DebianSuite) -> str:
    """linux-image-amd64 -> linux-image-<release> (the metapackage's versioned dependency)."""
    versioned = [d for d in suite.depends("linux-image-amd64") if d.startswith("linux-image-") and d[12].isdigit()]
    if not versioned:
        raise RuntimeError(f"{suite.suite}: linux-image-amd64 names no versioned image")
    return versioned[0]


def missing_config(config_text: str) -> list[str]:
    lines = set(config_text.splitlines())
    return [option for option in REQUIRED_CONFIG if option not in lines]


def extract_vmlinux(vmlinuz: Path, target: Path) -> Path:
    """The bzImage payload is zstd; zstd stops at the frame's end and warns about what follows."""
    data = vmlinuz.read_bytes()
    offset = data.find(ZSTD_MAGIC)
    if offset < 0:
        raise RuntimeError(f"{vmlinuz}: no zstd payload")
    with target.open("wb") as sink:
        subprocess.run(["zstd", "-dcq"], input=data[offset:], stdout=sink, stderr=subprocess.DEVNULL, check=False)
    if target.read_bytes()[:4] != b"\x7fELF":
        raise RuntimeError(f"{vmlinuz}: the zstd payload is not an ELF vmlinux")
    return target


def _vmlinux_h(vmlinux: Path, target: Path) -> Path:
    with target.open("w") as sink:
        subprocess.run(["bpftool", "btf", "dump", "file", str(vmlinux), "format", "c"], stdout=sink, check=True)
    return target


def _provision_from(suite_name: str) -> KernelArtifacts | None:
    suite = DebianSuite(suite_name)
    image = image_package(suite)
    release = image.removeprefix("linux-image-")
    base = suite.extract(f"linux-base-{release}")
    config = base / "usr" / "lib" / "modules" / release / "config"
    if missing := missing_config(config.read_text()):
        log.info("%s kernel %s lacks %s", suite_name, release, ", ".join(missing))
        return None
    binary = suite.extract(f"linux-binary-{release}")
    vmlinuz = binary / "usr" / "lib" / "modules" / release / "vmlinuz"
    out = cache_root() / "kernels" / release
    out.mkdir(parents=True, exist_ok=True)
    vmlinux = out / "vmlinux"
    if not vmlinux.exists():
        extract_vmlinux(vmlinuz, out / "vmlinux.partial").rename(vmlinux)
    header = out / "vmlinux.h"
    if not header.exists():
        _vmlinux_h(vmlinux, out / "vmlinux.h.partial").rename(header)
    return KernelArtifacts(
        release=release,
        suite=suite_name,
        package_version=suite.candidate_version(image),
        vmlinuz=vmlinuz,
        vmlinux=vmlinux,
        config=config,
        vmlinux_h=header,
    )


def provision_kernel(suites: tuple[str, ...] = SUITES) -> KernelArtifacts:
    for suite_name in suites:
        if artifacts := _provision_from(suite_name):
            return artifacts
    raise RuntimeError(f"no kernel with {', '.join(REQUIRED_CONFIG)} in {', '.join(suites)}")
