"""A Debian root filesystem that runs BCC (the agent's tier-2 profiler) in the micro-VM.

BCC compiles its programs at run time against the running kernel's headers, so the root
holds trixie's python3-bpfcc with its whole dependency closure plus the headers package
of the VM's kernel. It is unpacked into the cache, never installed on the host; the VM
reaches it through the host tree it mounts over 9p and chroots into it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from schedcp.cache import cache_root
from schedcp.debian_packages import DebianSuite, unpack_root
from schedcp.provisioning.kernel import KernelArtifacts

log = logging.getLogger(__name__)

BCC_SUITE = "trixie"
BCC_PACKAGES = ["python3-bpfcc"]


def _header_packages(release: str) -> list[str]:
    flavourless = release.rsplit("-", 1)[0]  # 7.3.4+deb13-amd64 -> 7.3.4+deb13
    return [f"linux-headers-{release}", f"linux-headers-{flavourless}-common", f"linux-kbuild-{flavourless}"]


def bcc_root(kernel: KernelArtifacts) -> Path:
    suite = DebianSuite(BCC_SUITE)
    debs = suite.download_closure(BCC_PACKAGES)
    headers = DebianSuite(kernel.suite)
    fingerprint = hashlib.sha256("\n".join([kernel.release, *(d.name for d in debs)]).encode()).hexdigest()[:16]
    root = cache_root() / "bcc-root" / fingerprint
    if (root / ".complete").exists():
        return root

    def finish(partial: Path) -> None:
        for package in _header_packages(kernel.release):
            shutil.copytree(headers.extract(package), partial, dirs_exist_ok=True, symlinks=True,
                            ignore=shutil.ignore_patterns(".complete"))
        for directory in ("proc", "sys", "dev", "tmp", "run", "var/tmp"):
            (partial / directory).mkdir(parents=True, exist_ok=True)

    unpack_root(debs, root, finish)
    log.info("BCC root for %s: %d packages at %s", kernel.release, len(debs), root)
    return root
