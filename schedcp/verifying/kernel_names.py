"""The names a kernel gives to what an object refers to by number or by name.

Helpers and map types are numbers in an object (`call 109`, `type 27`): their names come
from the kernel's own enums (`enum bpf_func_id`, `enum bpf_map_type` in its vmlinux.h), so
a refusal can name what it refuses even when the allow-list never heard of it. The kfuncs a
kernel offers are the functions its BTF tags `bpf_kfunc` (pahole does this for 6.11+
kernels); the set is cached beside the kernel's vmlinux, since dumping its BTF takes seconds.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schedcp.cache import write_atomically
from schedcp.provisioning.kernel import KernelArtifacts

HELPER = re.compile(r"\bBPF_FUNC_(\w+) = (\d+),")
MAP_TYPE = re.compile(r"\bBPF_MAP_TYPE_(\w+) = (\d+),")
BTF_FUNC = re.compile(r"^\[(\d+)\] FUNC '(\w+)'", re.M)
KFUNC_TAG = re.compile(r"^\[\d+\] DECL_TAG 'bpf_kfunc' type_id=(\d+)", re.M)


@dataclass(frozen=True)
class KernelNames:
    release: str
    helpers: dict[int, str]  # number -> bpf_<name>
    map_types: dict[int, str]  # number -> BPF_MAP_TYPE_<NAME>
    kfuncs: frozenset[str] | None  # None: the kernel's BTF does not tag its kfuncs

    def helper(self, number: int) -> str:
        return self.helpers.get(number, f"helper #{number}")

    def map_type(self, number: int) -> str:
        return self.map_types.get(number, f"map type #{number}")


def _kfuncs(vmlinux: Path) -> frozenset[str] | None:
    cached = vmlinux.with_name("kfuncs.txt")
    if not cached.exists():
        dump = subprocess.run(["bpftool", "btf", "dump", "file", str(vmlinux)], capture_output=True, text=True, check=True)
        functions = {int(i): name for i, name in BTF_FUNC.findall(dump.stdout)}
        tagged = sorted({functions[int(i)] for i in KFUNC_TAG.findall(dump.stdout) if int(i) in functions})
        write_atomically(cached, "".join(f"{name}\n" for name in tagged))
    names = frozenset(cached.read_text().split())
    return names or None


@cache
def _names(release: str, vmlinux_h: Path, vmlinux: Path) -> KernelNames:
    header = vmlinux_h.read_text()
    return KernelNames(
        release=release,
        helpers={int(n): f"bpf_{name}" for name, n in HELPER.findall(header)},
        map_types={int(n): f"BPF_MAP_TYPE_{name}" for name, n in MAP_TYPE.findall(header)},
        kfuncs=_kfuncs(vmlinux),
    )


def kernel_names(kernel: KernelArtifacts) -> KernelNames:
    return _names(kernel.release, kernel.vmlinux_h, kernel.vmlinux)
