"""The micro-VM's userland: busybox and a bpftool new enough for sched_ext.

sched_ext attaches through a struct_ops *link* (`SEC(".struct_ops.link")`), which needs
libbpf >= 1.2: bookworm's bpftool (libbpf 1.1) cannot, so the guest carries trixie's
bpftool with the trixie libraries it links against. They run only inside the VM, never on
the host. The result is a gzip'd cpio archive, cached; each VM run appends its own
archive with the programs to run (the kernel unpacks concatenated archives in order).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from schedcp.cache import cache_root, filling
from schedcp.debian_packages import DebianSuite, merged_usr_links

GUEST_SUITE = "trixie"
GUEST_PACKAGES = ("bpftool", "libc6", "libcap2", "libelf1t64", "zlib1g", "libzstd1", "libgcc-s1")
BUSYBOX = Path("/bin/busybox")
APPLETS = (
    "sh", "mount", "umount", "mkdir", "cat", "echo", "ls", "rm", "sleep", "dmesg", "poweroff",
    "grep", "sed", "head", "tail", "date", "timeout", "kill", "wc", "tr", "cut", "seq", "true", "false", "ln",
    "chmod", "nproc", "uname", "test", "[", "printf", "awk", "stat", "find", "env", "ip", "insmod",
)


def pack_cpio(root: Path, target: Path) -> Path:
    """`find | cpio -o -H newc | gzip`, with stable ordering so the archive is reproducible."""
    names = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
    ordered = b"\0".join(sorted(n for n in names.split(b"\0") if n)) + b"\0"
    archive = subprocess.run(
        ["cpio", "--null", "-o", "-H", "newc", "--quiet", "--reproducible"],
        cwd=root, input=ordered, capture_output=True, check=True,
    ).stdout
    target.write_bytes(subprocess.run(["gzip", "-9n"], input=archive, capture_output=True, check=True).stdout)
    return target


def _populate(root: Path) -> None:
    suite = DebianSuite(GUEST_SUITE)
    for package in GUEST_PACKAGES:
        shutil.copytree(suite.extract(package), root, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(".complete", "share"))
    merged_usr_links(root)
    shutil.copy2(BUSYBOX, root / "usr" / "bin" / "busybox")
    for applet in APPLETS:
        link = root / "usr" / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    for directory in ("proc", "sys", "dev", "tmp", "run"):
        (root / directory).mkdir(exist_ok=True)


def _fingerprint() -> str:
    suite = DebianSuite(GUEST_SUITE)
    versions = ",".join(f"{p}={suite.candidate_version(p)}" for p in GUEST_PACKAGES)
    return hashlib.sha256(f"{versions};{BUSYBOX.stat().st_size};{APPLETS}".encode()).hexdigest()[:16]


def base_initramfs() -> Path:
    target = cache_root() / "guest" / f"base-{_fingerprint()}.cpio.gz"
    if target.exists():
        return target
    with filling(target), tempfile.TemporaryDirectory(prefix="schedcp-guest-") as tmp:
        if not target.exists():
            root = Path(tmp)
            _populate(root)
            pack_cpio(root, target.with_suffix(".partial"))
            target.with_suffix(".partial").rename(target)
    return target
