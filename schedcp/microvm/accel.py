"""KVM where it works, TCG otherwise.

/dev/kvm can exist and still fail at the first instruction (nested virtualisation here
reports "KVM internal error"), so the only honest test is a boot. Its verdict is cached
per host boot, since nothing short of a reboot changes it.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from schedcp.cache import cache_root

log = logging.getLogger(__name__)

# Single-threaded TCG: with thread=multi, the guest kernel's cross-CPU code patching
# (static keys flipped when a sched_ext scheduler is enabled or disabled) hit an int3
# Oops in __schedule in 2 of 4 test boots; single-threaded, 0 in 6 (a third slower).
TCG = ["-accel", "tcg,thread=single", "-cpu", "max"]
KVM = ["-accel", "kvm", "-cpu", "host"]
PROBE_SECONDS = 30


def _verdict_file() -> Path:
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return cache_root() / "accel" / boot_id


def _kvm_boots(kernel: Path, initramfs: Path) -> bool:
    args = [
        "qemu-system-x86_64", *KVM, "-m", "256", "-nographic", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initramfs),
        "-append", "console=ttyS0 quiet panic=-1 rdinit=/bin/poweroff -- -f",
    ]
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=PROBE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and "KVM internal error" not in result.stdout + result.stderr


def accelerator_args(kernel: Path, initramfs: Path) -> list[str]:
    verdict = _verdict_file()
    if verdict.exists():
        return KVM if verdict.read_text() == "kvm" else TCG
    usable = os.access("/dev/kvm", os.R_OK | os.W_OK) and _kvm_boots(kernel, initramfs)
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text("kvm" if usable else "tcg")
    log.info("micro-VM accelerator: %s", "KVM" if usable else "TCG (KVM absent or failing)")
    return KVM if usable else TCG
