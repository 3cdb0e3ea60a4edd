"""KVM where it works, TCG otherwise; and how the guest's clock relates to the host's.

/dev/kvm can exist and still fail at the first instruction (nested virtualisation here
reports "KVM internal error"), so the only honest test is a boot. Its verdict is cached
per host boot, since nothing short of a reboot changes it.

Timing: under TCG on a shared host, a guest's wall-clock timings follow the host's load,
not the guest's scheduler (the same two schedulers swapped ranks between boots). With
`-icount`, guest time is the count of executed instructions, so host load drops out of
every guest-side measurement; `sleep=off` skips the guest's idle time instead of waiting
it out. That mode needs one vCPU (multi-vCPU icount is not deterministic without
record/replay), so it cannot show idle-CPU selection, migration or load balancing: those
need the parallel mode, whose numbers carry the host's noise and are judged by spread.
"""

from __future__ import annotations

import logging
import os
import subprocess
from enum import StrEnum
from pathlib import Path

from schedcp.cache import cache_root

log = logging.getLogger(__name__)

# Single-threaded TCG for the host's QEMU 7.2: with thread=multi, the guest kernel's
# cross-CPU code patching (static keys flipped when a sched_ext scheduler is enabled or
# disabled) hit an int3 Oops in __schedule in 2 of 4 test boots; single-threaded, 0 in 6
# (a third slower). Trixie's QEMU 10 is safe multi-threaded (schedcp/provisioning/qemu.py).
TCG = ["-accel", "tcg,thread=single", "-cpu", "max"]
TCG_MULTI = ["-accel", "tcg,thread=multi", "-cpu", "max"]
KVM = ["-accel", "kvm", "-cpu", "host"]
# shift=2: one instruction is 4 ns of guest time, close to what TCG executes per host
# nanosecond on this kind of machine, so guest-side timeouts keep their meaning.
ICOUNT = ["-icount", "shift=2,sleep=off"]
# A node must keep pace with the API server: with sleep=on its clock follows the host's
# while the guest idles, and counts instructions only while it runs.
ICOUNT_NODE = ["-icount", "shift=2,sleep=on"]
PROBE_SECONDS = 30


class Timing(StrEnum):
    DETERMINISTIC = "deterministic"  # one vCPU; under TCG, an instruction-counted clock
    PARALLEL = "parallel"  # the vCPUs asked for, each on a host thread of its own, real time
    REAL_TIME = "real-time"  # the host's QEMU; under TCG its vCPUs take turns on one host thread
    COUNTED_NODE = "counted-node"  # one vCPU; under TCG, instructions counted while busy, real time while idle


def qemu_command(kernel: Path, initramfs: Path, timing: Timing, cpus: int) -> list[str]:
    """QEMU, its accelerator and its CPUs for `timing`. KVM has no icount, and its real-time
    clock is steady enough that one vCPU is the whole difference there."""
    kvm = accelerator_args(kernel, initramfs) == KVM
    if timing in (Timing.DETERMINISTIC, Timing.COUNTED_NODE):
        icount = ICOUNT if timing is Timing.DETERMINISTIC else ICOUNT_NODE
        return ["qemu-system-x86_64", *(KVM if kvm else TCG), "-smp", "1", *([] if kvm else icount)]
    if timing is Timing.PARALLEL and not kvm:
        from schedcp.provisioning.qemu import ensure_parallel_qemu

        return [*ensure_parallel_qemu().command(), *TCG_MULTI, "-smp", str(cpus)]
    return ["qemu-system-x86_64", *(KVM if kvm else TCG), "-smp", str(cpus)]


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
