"""Kernel modules a micro-VM needs beyond the built-in drivers, decompressed for insmod.

Debian builds 9p and virtio-net as modules. The VM-as-a-node mode shares the host's file
tree with the guest over virtio-9p (QEMU serves it itself; no daemon on the host) and
reaches the API server through QEMU's user network. Debian ships modules xz-compressed;
busybox's insmod passes the file to the kernel as it is, so they are decompressed once
here and cached next to the kernel.
"""

from __future__ import annotations

import lzma
from pathlib import Path

from schedcp.cache import cache_root, filling
from schedcp.debian_packages import DebianSuite
from schedcp.provisioning.kernel import KernelArtifacts

# Load order: each module after the ones it depends on.
NINEP_MODULES = ("fs/netfs/netfs", "net/9p/9pnet", "net/9p/9pnet_virtio", "fs/9p/9p")
NET_MODULES = ("net/core/failover", "drivers/net/net_failover", "drivers/net/virtio_net")
# containerd's overlayfs snapshotter, for a VM node with a real container runtime.
OVERLAY_MODULES = ("fs/overlayfs/overlay",)


def guest_modules(kernel: KernelArtifacts, names: tuple[str, ...]) -> list[Path]:
    out = cache_root() / "kernels" / kernel.release / "modules"
    wanted = [out / f"{Path(name).name}.ko" for name in names]
    if all(path.exists() for path in wanted):
        return wanted
    tree = DebianSuite(kernel.suite).extract(f"linux-modules-{kernel.release}") / "usr" / "lib" / "modules"
    with filling(out):
        out.mkdir(parents=True, exist_ok=True)
        for name, target in zip(names, wanted, strict=True):
            if not target.exists():
                compressed = tree / kernel.release / "kernel" / f"{name}.ko.xz"
                partial = target.with_suffix(".partial")
                partial.write_bytes(lzma.decompress(compressed.read_bytes()))
                partial.rename(target)
    return wanted
