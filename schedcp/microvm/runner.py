"""Run a shell script as PID 1's work inside a fresh micro-VM and collect its results.

The guest reports on a dedicated virtio console (/dev/hvc0, a file on the host), one JSON
object per line, so kernel messages on the serial console never mix with results. A hard
wall-clock limit kills QEMU; the VM gets PR_SET_PDEATHSIG so it never outlives its caller.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schedcp.lifetime import die_with_parent
from schedcp.microvm.accel import accelerator_args
from schedcp.provisioning.guest import base_initramfs, pack_cpio
from schedcp.provisioning.kernel import KernelArtifacts, provision_kernel

log = logging.getLogger(__name__)

INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:/schedcp/bin
report() { printf '%s\\n' "$1" > /dev/hvc0; }
report '{"event":"booted","kernel":"'"$(uname -r)"'","cpus":'"$(nproc)"'}'
cd /schedcp
. /schedcp/run.sh
report '{"event":"finished"}'
poweroff -f
"""


class VmResult(BaseModel):
    """What one boot produced: the guest's JSON reports, the console, and how it ended."""

    reports: list[dict[str, Any]]
    console: str
    timed_out: bool
    finished: bool
    seconds: float
    accelerator: str

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.reports if r.get("event") == name]


def _parse_reports(text: str) -> list[dict[str, Any]]:
    reports = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                reports.append(json.loads(line))
            except json.JSONDecodeError:
                reports.append({"event": "garbled", "line": line[:500]})
    return reports


def _payload(workdir: Path, script: str, files: dict[str, Path]) -> Path:
    root = workdir / "payload"
    (root / "schedcp" / "bin").mkdir(parents=True)
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    (root / "schedcp" / "run.sh").write_text(script)
    for guest_path, source in files.items():
        target = root / "schedcp" / guest_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return pack_cpio(root, workdir / "payload.cpio.gz")


def run_script(
    script: str,
    files: dict[str, Path] | None = None,
    *,
    timeout: float = 120,
    cpus: int = 2,
    memory_mb: int = 1024,
    kernel: KernelArtifacts | None = None,
) -> VmResult:
    """Boot, run `script` (sourced by /init with `report JSON` available), power off."""
    kernel = kernel or provision_kernel()
    base = base_initramfs()
    with tempfile.TemporaryDirectory(prefix="schedcp-vm-") as tmp:
        workdir = Path(tmp)
        initramfs = workdir / "initramfs.cpio.gz"
        initramfs.write_bytes(base.read_bytes() + _payload(workdir, script, files or {}).read_bytes())
        accel = accelerator_args(kernel.vmlinuz, base)
        results = workdir / "results.jsonl"
        args = [
            "qemu-system-x86_64", *accel, "-smp", str(cpus), "-m", str(memory_mb),
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(initramfs),
            "-append", "console=ttyS0 quiet panic=-1 rdinit=/init",
            "-device", "virtio-serial-pci", "-chardev", f"file,id=results,path={results}",
            "-device", "virtconsole,chardev=results",
        ]
        started = time.monotonic()
        console, timed_out = _run_qemu(args, timeout)
        reports = _parse_reports(results.read_text(errors="replace")) if results.exists() else []
    return VmResult(
        reports=reports,
        console=console,
        timed_out=timed_out,
        finished=any(r.get("event") == "finished" for r in reports),
        seconds=round(time.monotonic() - started, 2),
        accelerator="kvm" if "kvm" in accel[1] else "tcg",
    )


def _run_qemu(args: list[str], timeout: float) -> tuple[str, bool]:
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )
    try:
        out, _ = process.communicate(timeout=timeout)
        return out.decode(errors="replace"), False
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        return out.decode(errors="replace"), True
