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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schedcp.lifetime import die_with_parent
from schedcp.microvm.accel import KVM, Timing, qemu_command
from schedcp.provisioning.guest import base_initramfs, pack_cpio
from schedcp.provisioning.kernel import KernelArtifacts, provision_kernel
from schedcp.provisioning.modules import NET_MODULES, NINEP_MODULES, guest_modules

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"

HOST_ROOT_SCRIPT = Path(__file__).with_name("host_root.sh")
NETWORK_SCRIPT = Path(__file__).with_name("network.sh")
# Where the guest finds a host port forwarded to it (QEMU user network's guestfwd).
GUEST_FORWARD_ADDRESS = "10.0.2.100"
# The guest's own address on that network (network.sh sets it).
GUEST_ADDRESS = "10.0.2.15"

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
[ -f /schedcp/network.sh ] && . /schedcp/network.sh
[ -f /schedcp/host_root.sh ] && . /schedcp/host_root.sh
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
    timing: Timing = Timing.REAL_TIME

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


class Forward(BaseModel):
    """The guest's GUEST_FORWARD_ADDRESS:guest_port reaches the host's host:host_port."""

    guest_port: int
    host_port: int
    host: str = "127.0.0.1"


class VmOptions(BaseModel):
    cpus: int = 2
    timing: Timing = Timing.REAL_TIME
    memory_mb: int = 1024
    share_host: bool = False
    forward: Forward | None = None


def _qemu_args(workdir: Path, script: str, files: dict[str, Path], options: VmOptions, kernel: KernelArtifacts) -> list[str]:
    """Write the initramfs for `script` into workdir; return QEMU's command line."""
    base = base_initramfs()
    files = dict(files)
    extra: list[str] = []
    if options.share_host:
        files["host_root.sh"] = HOST_ROOT_SCRIPT
        files.update({f"modules/{m.name}": m for m in guest_modules(kernel, NINEP_MODULES)})
        # multidevs=remap: the host's /proc, /sys and /dev roots share inode numbers, and
        # without remapping the guest confuses them (proc ends up mounted on /host/sys).
        extra += ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"]
    if options.forward:
        files["network.sh"] = NETWORK_SCRIPT
        files.update({f"modules/{m.name}": m for m in guest_modules(kernel, NET_MODULES)})
        relay = f"{sys.executable} -m schedcp.microvm.relay {options.forward.host_port} {options.forward.host}"
        rule = f"tcp:{GUEST_FORWARD_ADDRESS}:{options.forward.guest_port}-cmd:{relay}"
        extra += ["-netdev", f"user,id=net0,restrict=on,guestfwd={rule}", "-device", "virtio-net-pci,netdev=net0"]
    initramfs = workdir / "initramfs.cpio.gz"
    initramfs.write_bytes(base.read_bytes() + _payload(workdir, script, files).read_bytes())
    return [
        *qemu_command(kernel.vmlinuz, base, options.timing, options.cpus),
        "-m", str(options.memory_mb), "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
        "-kernel", str(kernel.vmlinuz), "-initrd", str(initramfs),
        "-append", "console=ttyS0 quiet panic=-1 rdinit=/init",
        "-device", "virtio-serial-pci", "-chardev", f"file,id=results,path={workdir / RESULTS}",
        "-device", "virtconsole,chardev=results", *extra,
    ]


def run_script(
    script: str,
    files: dict[str, Path] | None = None,
    *,
    timeout: float = 120,
    cpus: int = 2,
    memory_mb: int = 1024,
    kernel: KernelArtifacts | None = None,
    share_host: bool = False,
    timing: Timing = Timing.REAL_TIME,
) -> VmResult:
    """Boot, run `script` (sourced by /init with `report JSON` available), power off.

    With `share_host`, the host's / is mounted read-only at /host in the guest and the
    script can run host programs there with `in_host CMD...` (see host_root.sh). With
    Timing.DETERMINISTIC the guest has one vCPU (`cpus` is ignored) and, under TCG, an
    instruction-counted clock: use it to compare schedulers, not to wait for the host.
    """
    kernel = kernel or provision_kernel()
    options = VmOptions(cpus=cpus, memory_mb=memory_mb, share_host=share_host, timing=timing)
    with tempfile.TemporaryDirectory(prefix="schedcp-vm-") as tmp:
        workdir = Path(tmp)
        args = _qemu_args(workdir, script, files or {}, options, kernel)
        started = time.monotonic()
        console, timed_out = _run_qemu(args, timeout)
        results = workdir / RESULTS
        reports = _parse_reports(results.read_text(errors="replace")) if results.exists() else []
    return VmResult(
        reports=reports,
        console=console,
        timed_out=timed_out,
        finished=any(r.get("event") == "finished" for r in reports),
        seconds=round(time.monotonic() - started, 2),
        accelerator="kvm" if KVM[1] in args else "tcg",
        timing=timing,
    )


class RunningVm:
    """A VM that runs until stopped (a node), its console in a log file."""

    def __init__(self, script: str, files: dict[str, Path], options: VmOptions, console_log: Path,
                 kernel: KernelArtifacts | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="schedcp-vm-"))
        self.console_log = console_log
        args = _qemu_args(self.workdir, script, files, options, kernel or provision_kernel())
        with console_log.open("wb") as sink:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)

    def reports(self) -> list[dict[str, Any]]:
        results = self.workdir / RESULTS
        return _parse_reports(results.read_text(errors="replace")) if results.exists() else []

    def console(self, tail: int = 4000) -> str:
        return self.console_log.read_text(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)


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
