"""Compile a sched_ext scheduler, and the workload programs that exercise it.

Tunables become `-D NAME=value` defines: bpftool, which loads schedulers on nodes and in
the verifier's VM, cannot rewrite read-only data at load time, and a define lets the
compiler and the kernel verifier see the value as a constant. The object's sha256 is
recorded, since it is what actually reaches a kernel. Builds are reproducible (the
build directory and include paths are mapped out of the debug info), so the operator
can rebuild a verified revision and get the very bytes whose digest the verifier pinned.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root, filling
from schedcp.templates import BPF_DIR, INCLUDE_DIR

BPF_CFLAGS = ("-target", "bpf", "-O2", "-g", "-D__TARGET_ARCH_x86", "-Wall", "-Werror", "-Wno-missing-declarations")
WORKLOAD_DIR = BPF_DIR / "workloads"
WORKLOADS = ("wakeup_latency", "cpu_batch", "longtail", "pingpong", "schbench", "build", "replay")


class BuildFailed(Exception):
    def __init__(self, log: str) -> None:
        super().__init__("compilation failed")
        self.log = log


class BuiltObject(BaseModel):
    path: Path
    sha256: str


def defines(tunables: dict[str, int]) -> list[str]:
    return [f"-D{name.upper()}={int(value)}" for name, value in sorted(tunables.items())]


def compile_scheduler(source: str, tunables: dict[str, int], vmlinux_h: Path, workdir: Path) -> BuiltObject:
    workdir.mkdir(parents=True, exist_ok=True)
    source_path = workdir / "scheduler.bpf.c"
    source_path.write_text(source)
    target = workdir / "scheduler.bpf.o"
    prefix_maps = (f"{workdir}=build", f"{INCLUDE_DIR}=include", f"{vmlinux_h.parent}=vmlinux")
    # The compile directory goes into the debug info too, and the processes that build (the
    # verifier, the operator's publisher) run from anywhere: -fdebug-compilation-dir.
    args = [
        "clang", *BPF_CFLAGS, *defines(tunables), f"-I{INCLUDE_DIR}", f"-I{vmlinux_h.parent}",
        *(f"-ffile-prefix-map={m}" for m in prefix_maps), "-fdebug-compilation-dir=build",
        "-c", str(source_path), "-o", str(target),
    ]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildFailed(result.stderr.replace(str(workdir) + "/", ""))
    return BuiltObject(path=target, sha256=hashlib.sha256(target.read_bytes()).hexdigest())


def workload_binaries() -> dict[str, Path]:
    """Static binaries of the workload programs, cached by the hash of their sources."""
    sources = sorted(WORKLOAD_DIR.glob("*.[ch]"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    out = cache_root() / "workloads" / digest
    out.mkdir(parents=True, exist_ok=True)
    for name in WORKLOADS:
        binary = out / name
        if not binary.exists():
            with filling(binary):
                partial = out / f"{name}.partial"
                subprocess.run(
                    ["gcc", "-O2", "-static", "-pthread", "-Wall", "-Werror", "-o", str(partial), str(WORKLOAD_DIR / f"{name}.c")],
                    check=True,
                    capture_output=True,
                )
                partial.rename(binary)
    return {name: out / name for name in WORKLOADS}
