"""QEMU from trixie for the parallel timing mode, run from the cache.

Bookworm's QEMU 7.2 raced the guest kernel's cross-CPU code patching under multi-threaded
TCG (an int3 Oops in __schedule when a sched_ext scheduler was enabled or disabled), so
with it several vCPUs must take turns on one host thread, which distorts exactly the
multi-CPU effects the parallel mode is for. Trixie's QEMU 10 ran 90 enable/disable cycles
with `thread=multi` without an Oops. It is unpacked with its dependency closure (never
installed) and its programs patched to the unpacked loader, like clang.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from schedcp.debian_packages import unpacked_programs, version_line

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


def ensure_parallel_qemu() -> Qemu:
    """Trixie's qemu-system-x86_64, unpacked and patched into the cache on first use."""
    root, packages = unpacked_programs(QEMU_SUITE, QEMU_PACKAGES, "qemu", Path("usr/bin"))
    binary = root / "usr" / "bin" / "qemu-system-x86_64"
    firmware = [arg for directory in FIRMWARE_DIRS for arg in ("-L", str(root / directory))]
    qemu = Qemu(binary=binary, firmware_args=firmware, version=version_line(binary, "QEMU emulator version"))
    log.info("%s at %s (%d packages)", qemu.version, binary, packages)
    return qemu
