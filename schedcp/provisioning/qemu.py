"""QEMU from trixie for the parallel timing mode, run from the cache.

Bookworm's QEMU 7.2 raced the guest kernel's cross-CPU code patching under multi-threaded
TCG (an int3 Oops in __schedule when a sched_ext scheduler was enabled or disabled), so
with it several vCPUs must take turns on one host thread, which distorts exactly the
multi-CPU effects the parallel mode is for. Trixie's QEMU 10 ran 90 enable/disable cycles
with `thread=multi` without an Oops. It is unpacked with its dependency closure (never
installed) and its programs patched to the unpacked loader, like clang.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root
from schedcp.debian_packages import DebianSuite, relocate, unpack_root

log = logging.getLogger(__name__)

QEMU_SUITE = "trixie"
QEMU_PACKAGES = ["qemu-system-x86"]
# Firmware (the BIOS and the option ROMs QEMU loads) sits in these data directories.
FIRMWARE_DIRS = (Path("usr/share/qemu"), Path("usr/share/seabios"))


class Qemu(BaseModel):
    """A qemu-system-x86_64 and the arguments that make it find its own firmware."""

    binary: Path
    firmware_args: list[str]
    version: str

    def command(self) -> list[str]:
        return [str(self.binary), *self.firmware_args]


def qemu_version(binary: Path) -> str:
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    if result.returncode != 0 or "QEMU emulator version" not in first:
        raise RuntimeError(f"{binary} does not run: {(result.stderr or first).strip()[-500:]}")
    return first


def ensure_parallel_qemu() -> Qemu:
    """Trixie's qemu-system-x86_64, unpacked and patched into the cache on first use."""
    debs = DebianSuite(QEMU_SUITE).download_closure(QEMU_PACKAGES)
    fingerprint = hashlib.sha256("\n".join(d.name for d in debs).encode()).hexdigest()[:16]
    root = cache_root() / "qemu" / fingerprint
    unpack_root(debs, root, lambda tree: relocate(tree / "usr" / "bin", root))
    binary = root / "usr" / "bin" / "qemu-system-x86_64"
    firmware = [arg for directory in FIRMWARE_DIRS for arg in ("-L", str(root / directory))]
    qemu = Qemu(binary=binary, firmware_args=firmware, version=qemu_version(binary))
    log.info("%s at %s (%d packages)", qemu.version, binary, len(debs))
    return qemu
