"""Node facts for `NodeSchedulerState.status.kernel`: what this kernel can run.

Every fact is read, never assumed: a node without sched_ext, BTF or a mounted bpffs
is reported as such so that the operator skips it instead of failing a rollout there.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from schedcp.api.v1alpha1.nodestate import KernelFacts
from schedcp_node_agent.host import HostPaths, read_value

BPF_FS_MAGIC = "bpf"


def cgroup_version(host: HostPaths) -> int | None:
    """2 when the cgroup root is the unified hierarchy, 1 for v1 or hybrid hosts."""
    if (host.cgroup / "cgroup.controllers").exists():
        return 2
    return 1 if host.cgroup.is_dir() and any(host.cgroup.iterdir()) else None


def bpffs_mounted(host: HostPaths) -> bool:
    target = str(host.bpffs)
    for line in (read_value(host.proc / "self" / "mounts") or "").splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == target and fields[2] == BPF_FS_MAGIC:
            return True
    return False


def _cpu_topology(host: HostPaths) -> tuple[int | None, int | None, bool | None]:
    cpus_dir = host.sys / "devices" / "system" / "cpu"
    online = read_value(cpus_dir / "online")
    cpus = _count_cpu_list(online) if online else os.cpu_count()
    nodes = len(list((host.sys / "devices" / "system" / "node").glob("node[0-9]*"))) or None
    smt_active = read_value(cpus_dir / "smt" / "active")
    return cpus, nodes, None if smt_active is None else smt_active == "1"


def _count_cpu_list(text: str) -> int:
    """Count the CPUs of a kernel cpu list such as `0-3,8-11`."""
    count = 0
    for part in text.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


@functools.lru_cache(maxsize=4)
def btf_sha256(vmlinux_btf: Path, boot_id: str | None) -> str | None:
    """The digest of the kernel's BTF, which names its build (the release alone does not: a
    rebuilt kernel keeps it). Read once per boot: a few megabytes."""
    try:
        return hashlib.sha256(vmlinux_btf.read_bytes()).hexdigest()
    except OSError:
        return None


def gather_facts(host: HostPaths) -> KernelFacts:
    cpus, numa_nodes, smt = _cpu_topology(host)
    boot_id = read_value(host.proc / "sys" / "kernel" / "random" / "boot_id")
    btf = host.sys / "kernel" / "btf" / "vmlinux"
    return KernelFacts(
        release=read_value(host.proc / "sys" / "kernel" / "osrelease") or os.uname().release,
        boot_id=boot_id,
        sched_ext=host.sched_ext.is_dir(),
        btf=btf.exists(),
        btf_sha256=btf_sha256(btf, boot_id),
        bpffs_mounted=bpffs_mounted(host),
        cgroup_version=cgroup_version(host),
        cpus=cpus,
        numa_nodes=numa_nodes,
        smt=smt,
    )
