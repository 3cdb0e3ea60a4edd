"""A Debian kernel with sched_ext, resolved at setup time rather than pinned.

Debian's kernel versions move and old ones vanish from the archive, so the version comes
from the suite's `linux-image-amd64` metapackage, and the kernel's own config decides
whether it can run sched_ext. The result (vmlinuz, an ELF vmlinux with BTF, vmlinux.h,
the digest of that BTF) is cached per kernel release.

A node's kernel is found again by its release (`provision_release`): Debian names the
image package after it, so a suite that still carries `linux-image-<release>` provides
the very kernel a node runs, and the BTF digest tells whether it is the same build.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root, filling
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
    btf_sha256: str


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


def btf_digest(vmlinux: Path) -> str:
    """sha256 of the .BTF section: the bytes the running kernel shows as /sys/kernel/btf/vmlinux."""
    with tempfile.TemporaryDirectory(prefix="schedcp-btf-") as tmp:
        section = Path(tmp) / "btf"
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.BTF", str(vmlinux), str(section)], check=True)
        return hashlib.sha256(section.read_bytes()).hexdigest()


def _cached(path: Path, make: Callable[[Path], object]) -> Path:
    """`path`, made once through a partial file so an interrupted run leaves nothing half-written."""
    if not path.exists():
        with filling(path):
            if not path.exists():
                partial = path.with_name(path.name + ".partial")
                make(partial)
                partial.rename(path)
    return path


def _provision_from(suite_name: str, release: str | None = None) -> KernelArtifacts | None:
    """The suite's current kernel, or its kernel `release`; None if it lacks sched_ext."""
    suite = DebianSuite(suite_name)
    image = f"linux-image-{release}" if release else image_package(suite)
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
    vmlinux = _cached(out / "vmlinux", lambda target: extract_vmlinux(vmlinuz, target))
    header = _cached(out / "vmlinux.h", lambda target: _vmlinux_h(vmlinux, target))
    btf = _cached(out / "btf.sha256", lambda target: target.write_text(btf_digest(vmlinux)))
    return KernelArtifacts(
        release=release,
        suite=suite_name,
        package_version=suite.candidate_version(image),
        vmlinuz=vmlinuz,
        vmlinux=vmlinux,
        config=config,
        vmlinux_h=header,
        btf_sha256=btf.read_text().strip(),
    )


def provision_kernel(suites: tuple[str, ...] = SUITES) -> KernelArtifacts:
    for suite_name in suites:
        if artifacts := _provision_from(suite_name):
            return artifacts
    raise RuntimeError(f"no kernel with {', '.join(REQUIRED_CONFIG)} in {', '.join(suites)}")


def provision_kernels(suites: tuple[str, ...] = SUITES) -> list[KernelArtifacts]:
    """Each suite's current sched_ext kernel, once per release (two suites may carry the same)."""
    found: dict[str, KernelArtifacts] = {}
    for suite_name in suites:
        if (artifacts := _provision_from(suite_name)) and artifacts.release not in found:
            found[artifacts.release] = artifacts
    return list(found.values())


def provision_release(release: str, suites: tuple[str, ...] = SUITES) -> KernelArtifacts | None:
    """The Debian kernel `release` (a node's `uname -r`) from the first suite that carries it
    with sched_ext; None when none does (another distribution, or a release Debian dropped)."""
    for suite_name in suites:
        if DebianSuite(suite_name).provides(f"linux-image-{release}") and (found := _provision_from(suite_name, release)):
            return found
    return None
